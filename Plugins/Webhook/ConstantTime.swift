import Crypto

/// Comparisons whose running time does not depend on where two secrets differ (the webhook's
/// credentials, and the console's, which takes the same tokens).
public enum ConstantTime {
    /// Equal byte strings. Lengths are compared openly (a MAC's length is public).
    public static func equal(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for index in a.indices { difference |= a[index] ^ b[index] }
        return difference == 0
    }

    /// Equal strings, without revealing even their lengths: both are hashed first.
    public static func equal(_ a: String, _ b: String) -> Bool {
        equal(Array(SHA256.hash(data: Array(a.utf8))), Array(SHA256.hash(data: Array(b.utf8))))
    }

    /// Whether `candidate` is one of `secrets`; every secret is compared, match or not.
    public static func contains(_ secrets: [String], _ candidate: String) -> Bool {
        var found = false
        for secret in secrets { found = equal(secret, candidate) || found }
        return found
    }
}
