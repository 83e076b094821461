/// How a failing input is shown: printable ASCII as is, everything else escaped, long
/// inputs cut, so the message can be pasted back into a regression test.
func show(_ bytes: some Collection<UInt8>) -> String {
    var out = "\""
    for byte in bytes.prefix(300) {
        switch byte {
        case 0x5C: out += "\\\\"
        case 0x22: out += "\\\""
        case 0x20...0x7E: out.unicodeScalars.append(Unicode.Scalar(byte))
        default: out += "\\u{" + String(byte, radix: 16) + "}"
        }
    }
    out += "\""
    return bytes.count > 300 ? out + "… (\(bytes.count) bytes)" : out
}

func show(_ text: String) -> String { show(Array(text.utf8)) }

/// Inputs for a parser of text: pure random bytes, random bytes from the grammar's
/// alphabet, mutations of valid samples, and generated ones, in turn.
struct InputMix {
    var alphabet: [UInt8]
    var mutator: Mutator
    var samples: [[UInt8]]

    /// The `index`th input: the kinds take turns, so every kind is tried in every run.
    func input(_ index: Int, generated: (inout FuzzRandom) -> [UInt8], using random: inout FuzzRandom) -> [UInt8] {
        switch index % 4 {
        case 0: random.bytes(random.length())
        case 1: random.bytes(random.length(), from: alphabet)
        case 2: mutator.mutate(random.pick(samples), using: &random)
        default: random.chance(50) ? generated(&random) : mutator.mutate(generated(&random), using: &random)
        }
    }
}
