import FlintPluginAPI
import Foundation

extension BrazeResponse {
    /// Classifies an HTTP answer from Braze (docs/braze.md, Errors and retries). Pure: no I/O, no clock.
    ///
    /// - Parameters:
    ///   - headers: the response headers, names in any case.
    ///   - body: the response body, possibly cut short when `transportError` says the connection was
    ///     lost while reading it.
    ///   - receivedAt: when the head arrived; a `Retry-After` in seconds counts from here.
    ///   - transportError: set when the head arrived but the rest of the answer was lost.
    ///   - redact: removes the API key from any text taken from the answer.
    public init(
        operation: BrazeOperation,
        status: Int,
        headers: [(name: String, value: String)],
        body: [UInt8],
        receivedAt: Date,
        transportError: BrazeTransportError? = nil,
        redact: (String) -> String = { $0 }
    ) {
        let parsed = Self.parseBody(body, redact: redact)
        let rateLimit = Self.rateLimit(from: headers)
        let retryAfter = Self.header("retry-after", in: headers).flatMap { Self.parseRetryAfter($0, now: receivedAt) }
        let text = Self.describe(message: parsed.message ?? parsed.snippet, errors: parsed.errors)

        let disposition: Disposition
        switch status {
        case 200..<300:
            let acknowledged = parsed.message.map { ["success", "queued"].contains($0.lowercased()) } ?? false
            if operation != .createSchedule || parsed.scheduleId != nil || acknowledged {
                disposition = .success
            } else if transportError != nil {
                disposition = .unknown(
                    "Braze accepted the request (HTTP \(status)) but the connection was lost before its "
                        + "schedule_id was read: the schedule exists and cannot be cancelled from Flint")
            } else {
                disposition = .unknown(
                    "Braze answered HTTP \(status) without a schedule_id or a success message: "
                        + "the schedule may exist; not resent (\(text))")
            }
        case 401, 403:
            disposition = .authFailure(text)
        case 429:
            disposition = .retryAfter(retryAfter ?? rateLimit.reset)
        case 504:
            disposition = .unknown("gateway timeout: Braze may or may not have acted on the request; not resent (\(text))")
        case 500..<600:
            disposition = retryAfter.map { .retryAfter($0) } ?? .retry
        case 300..<400:
            let location = Self.header("location", in: headers).map { " to \(redact($0))" } ?? ""
            disposition = .fail("unexpected redirect\(location): check braze.rest_endpoint")
        case 400..<500:
            disposition = .fail(text)
        default:
            disposition = .unknown("unexpected HTTP status \(status): not resent (\(text))")
        }

        self.init(
            operation: operation,
            status: status,
            dispatchId: parsed.dispatchId,
            scheduleId: parsed.scheduleId,
            message: parsed.message,
            errors: parsed.errors,
            rateLimit: rateLimit,
            retryAfter: retryAfter,
            transportError: transportError,
            disposition: disposition,
            receivedAt: receivedAt
        )
    }

    /// A call that produced no HTTP status: classified by the transport error's phase.
    init(operation: BrazeOperation, transportError: BrazeTransportError, receivedAt: Date) {
        let disposition: Disposition
        if transportError.isRetryable {
            disposition = .retry
        } else if transportError.mayHaveReachedBraze {
            disposition = .unknown(
                "\(transportError.description); Braze may have acted on the request, so it is not resent")
        } else {
            disposition = .fail(transportError.description)
        }
        self.init(
            operation: operation, status: nil, transportError: transportError, disposition: disposition,
            receivedAt: receivedAt)
    }

    // MARK: - Headers

    /// The first header named `name` (lowercase), trimmed; nil when missing or empty.
    static func header(_ name: String, in headers: [(name: String, value: String)]) -> String? {
        guard let value = headers.first(where: { $0.name.lowercased() == name })?.value else { return nil }
        let trimmed = value.trimmingCharacters(in: .whitespaces)
        return trimmed.isEmpty ? nil : trimmed
    }

    /// `X-RateLimit-Limit`, `-Remaining`, `-Reset`, read case-insensitively; empty or bad values are nil.
    static func rateLimit(from headers: [(name: String, value: String)]) -> BrazeRateLimit {
        func integer(_ name: String) -> Int? {
            guard let text = header(name, in: headers) else { return nil }
            if let value = Int(text) { return value }
            return Double(text).flatMap { $0.isFinite ? Int(exactly: $0.rounded(.down)) : nil }
        }
        let reset = header("x-ratelimit-reset", in: headers)
            .flatMap(Double.init)
            .flatMap { $0.isFinite && $0 > 0 ? Date(timeIntervalSince1970: $0) : nil }
        return BrazeRateLimit(limit: integer("x-ratelimit-limit"), remaining: integer("x-ratelimit-remaining"), reset: reset)
    }

    /// `Retry-After`: delay seconds, or an HTTP date (RFC 9110 IMF-fixdate).
    static func parseRetryAfter(_ text: String, now: Date) -> Date? {
        if let seconds = Int(text) { return seconds >= 0 ? now.addingTimeInterval(TimeInterval(seconds)) : nil }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        return formatter.date(from: text)
    }

    // MARK: - Body

    struct ParsedBody {
        var message: String?
        var errors: [String] = []
        var dispatchId: String?
        var scheduleId: String?
        /// For a body that is not JSON: its start, to say what came back (an HTML error page, ...).
        var snippet: String?
    }

    /// Reads Braze's `{"dispatch_id", "schedule_id", "message", "errors"}`. A body that does not parse
    /// (cut short, garbage after the object) still yields the ids it names, so an accepted `create`
    /// is not mistaken for an unknown one.
    static func parseBody(_ body: [UInt8], redact: (String) -> String) -> ParsedBody {
        var result = ParsedBody()
        if let value = try? JSONParser.parse(body), case .object(let object) = value {
            result.message = object["message"].flatMap(text).map(redact)
            switch object["errors"] {
            case .array(let items)?: result.errors = items.compactMap(text).map(redact)
            case let item?: result.errors = text(item).map { [redact($0)] } ?? []
            case nil: break
            }
            result.dispatchId = object["dispatch_id"].flatMap(text)
            result.scheduleId = object["schedule_id"].flatMap(text)
            return result
        }
        let raw = String(decoding: body.prefix(64 * 1024), as: UTF8.self)
        result.scheduleId = scanString(member: "schedule_id", in: raw)
        result.dispatchId = scanString(member: "dispatch_id", in: raw)
        result.message = scanString(member: "message", in: raw).map(redact)
        if !body.isEmpty {
            let collapsed = raw.prefix(200).split(whereSeparator: \.isWhitespace).joined(separator: " ")
            result.snippet = "unreadable response body (\(body.count) bytes): " + redact(collapsed)
        }
        return result
    }

    /// A JSON value as message text: strings as they are, numbers as written, the rest as compact JSON;
    /// nil for null and empty strings.
    private static func text(_ value: JSONValue) -> String? {
        switch value {
        case .null: return nil
        case .string(let s): return s.isEmpty ? nil : s
        case .number(let n): return JSONValue.numberText(n)
        default: return value.compactJSON
        }
    }

    /// The string value of `"member": "..."` in text that is not valid JSON; nil if absent or empty.
    static func scanString(member: String, in text: String) -> String? {
        var rest = text[...]
        while let found = rest.range(of: "\"\(member)\"") {
            var tail = rest[found.upperBound...].drop(while: \.isWhitespace)
            rest = rest[found.upperBound...]
            guard tail.first == ":" else { continue }
            tail = tail.dropFirst().drop(while: \.isWhitespace)
            guard tail.first == "\"" else { continue }
            tail = tail.dropFirst()
            guard let end = tail.firstIndex(of: "\"") else { return nil }
            let value = String(tail[..<end])
            return value.isEmpty ? nil : value
        }
        return nil
    }
}
