/// Trimming for header values without Foundation's `CharacterSet` (which bridges through NSString:
/// 7% of the accept path's CPU in a profile of `flint serve`). Header values are ASCII where it
/// matters; anything else is kept as it is.
extension StringProtocol {
    /// Without leading and trailing spaces and tabs (HTTP's optional whitespace).
    var trimmedOWS: Substring {
        trimmed { $0 == " " || $0 == "\t" }
    }

    func trimmed(_ drop: (Character) -> Bool) -> Substring {
        let s = self[...]
        guard let first = s.firstIndex(where: { !drop($0) }), let last = s.lastIndex(where: { !drop($0) }) else { return Substring() }
        return Substring(s[first...last])
    }
}
