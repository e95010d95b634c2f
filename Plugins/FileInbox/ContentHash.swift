/// A stable 128-bit hash of a file's bytes, as 32 hex digits.
///
/// Two FNV-1a 64 passes with different offset bases: not cryptographic, only a name for "these exact
/// bytes", so a file read twice yields the same event ids (the engine drops the second reading).
enum ContentHash {
    static func hex(of bytes: [UInt8]) -> String {
        let prime: UInt64 = 0x0000_0100_0000_01B3
        var first: UInt64 = 0xCBF2_9CE4_8422_2325
        var second: UInt64 = 0x6C62_272E_07BB_0142
        bytes.withUnsafeBufferPointer { buffer in
            for byte in buffer {
                first = (first ^ UInt64(byte)) &* prime
                second = (second ^ UInt64(byte)) &* prime
            }
        }
        return hex64(first) + hex64(second)
    }

    private static func hex64(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}
