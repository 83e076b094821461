"""What the fleet benchmarks share: the servers' CPU time, from /proc."""
import os


def server_cpu_seconds(pids):
    """utime + stime of the server processes, in seconds (from /proc/PID/stat)."""
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")
