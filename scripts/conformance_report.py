#!/usr/bin/env python3
"""Summarises a kosoku (Autobahn TestSuite) report for scripts/conformance.sh.

    conformance_report.py REPORTS/index.json

Prints a Markdown table of case groups (1.1, 2, 5, 6.4, 7.7, 9.1, 12.1, ...) with the number
of cases of each result, then every case that is not OK with its verdicts, and exits 1 if
any case FAILED.

A case counts as its behaviour (OK, NON-STRICT, INFORMATIONAL) when its closing behaviour
is OK or INFORMATIONAL. UNIMPLEMENTED is accepted only for the compression cases (12.*,
13.*), which Autobahn marks so when the server does not accept permessage-deflate. Anything
else (FAILED, ERROR, WRONG CODE, UNCLEAN, FAILED BY CLIENT, ...) counts as FAILED.
"""

from __future__ import annotations

import json
import sys

COLUMNS = ["OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED", "FAILED"]
ACCEPTED_CLOSE = {"OK", "INFORMATIONAL"}
UNIMPLEMENTED_GROUPS = {"12", "13"}


def group_of(case_id: str) -> str:
    """``1.1.3`` -> ``1.1``; ``5.12`` -> ``5``; ``12.1.1`` -> ``12.1``."""
    parts = case_id.split(".")
    return ".".join(parts[:2]) if len(parts) > 2 else parts[0]


def sort_key(text: str) -> list[int]:
    return [int(part) for part in text.split(".")]


def collapse(ids: list[str], counts: dict[str, dict[str, int]], column: str) -> list[str]:
    """Case ids; a group of 3 or more cases in the run, all with this result, as ``group.*``."""
    out: list[str] = []
    for case_id in ids:
        group = group_of(case_id)
        total = sum(counts[group].values())
        whole = total >= 3 and total == counts[group][column] and group != case_id
        label = f"{group}.*" if whole else case_id
        if label not in out:
            out.append(label)
    return out


def verdict(case_id: str, entry: dict) -> str:
    behavior, closing = entry.get("behavior"), entry.get("behaviorClose")
    if closing not in ACCEPTED_CLOSE:
        return "FAILED"
    if behavior in ("OK", "NON-STRICT", "INFORMATIONAL"):
        return behavior
    if behavior == "UNIMPLEMENTED" and case_id.split(".")[0] in UNIMPLEMENTED_GROUPS:
        return behavior
    return "FAILED"


def main(path: str) -> int:
    with open(path) as f:
        index = json.load(f)
    cases: dict[str, dict] = {}
    for agent_cases in index.values():
        cases.update(agent_cases)
    if not cases:
        print(f"conformance: no case in {path}", file=sys.stderr)
        return 1

    counts: dict[str, dict[str, int]] = {}
    notable: list[tuple[str, str, dict]] = []
    for case_id in sorted(cases, key=sort_key):
        entry = cases[case_id]
        result = verdict(case_id, entry)
        row = counts.setdefault(group_of(case_id), dict.fromkeys(COLUMNS, 0))
        row[result] += 1
        if result != "OK":
            notable.append((case_id, result, entry))

    print("| group | " + " | ".join(COLUMNS) + " |")
    print("|---|" + "---:|" * len(COLUMNS))
    totals = dict.fromkeys(COLUMNS, 0)
    for group in sorted(counts, key=sort_key):
        row = counts[group]
        for column in COLUMNS:
            totals[column] += row[column]
        print(f"| {group} | " + " | ".join(str(row[c]) for c in COLUMNS) + " |")
    print(f"| **all {len(cases)}** | " + " | ".join(f"**{totals[c]}**" for c in COLUMNS) + " |")

    if notable:
        print()
    # Accepted results other than OK, by case (a whole group as `12.1.*`); failures one by one.
    for column in COLUMNS[1:-1]:
        ids = [case_id for case_id, result, _ in notable if result == column]
        if ids:
            print(f"{column}: {', '.join(collapse(ids, counts, column))}")
    for case_id, result, entry in notable:
        if result == "FAILED":
            print(
                f"FAILED {case_id}: behavior {entry.get('behavior')}, close {entry.get('behaviorClose')}, "
                f"server's close code {entry.get('remoteCloseCode')}"
            )
    failed = totals["FAILED"]
    print()
    print(f"conformance: {failed} of {len(cases)} cases FAILED" if failed else f"conformance: all {len(cases)} cases passed")
    return 1 if failed else 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1]))
