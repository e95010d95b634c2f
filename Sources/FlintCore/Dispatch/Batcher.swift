import FlintPluginAPI
import Foundation

/// One request to an action: the outbox rows it carries and what goes out.
public struct BatchedRequest: Sendable, Hashable {
    public var items: [OutboxItem]
    public var request: SendRequest

    public var action: String { items[0].action }
}

/// Groups due sends into requests by the action's coalescing (docs/architecture.md, Dispatch). Pure:
/// the dispatcher only groups; the action computes the key and merges the bodies.
public struct Batcher: Sendable {
    /// How long a fresh send waits for others to share its request.
    public var window: TimeInterval

    public init(window: TimeInterval) {
        self.window = window
    }

    /// What a row sends when it goes alone.
    public static func request(for item: OutboxItem) -> SendRequest {
        SendRequest(id: item.key, body: item.body, schedule: item.schedule)
    }

    /// - Parameters:
    ///   - items: due rows of one action, oldest first.
    ///   - coalescing: the action's declaration; nil: every row alone.
    ///   - alone: rows that must go alone whatever the action declares (rules with `cancel_on`, whose
    ///     sends are withdrawn one by one).
    /// - Returns: the requests in order of their oldest row, and when the earliest row held for its
    ///   window is due (nil when none is held).
    public func batch(
        _ items: [OutboxItem], coalescing: SendCoalescing?, alone: (OutboxItem) -> Bool, now: Date
    ) -> (requests: [BatchedRequest], heldUntil: Date?) {
        var heldUntil: Date?
        var singles: [(Int64, BatchedRequest)] = []
        var groups: [String: [(item: OutboxItem, request: SendRequest)]] = [:]
        var order: [String] = []
        for item in items {
            let request = Self.request(for: item)
            guard let coalescing, !alone(item), let key = coalescing.key(request) else {
                singles.append((item.id, BatchedRequest(items: [item], request: coalescing.map { $0.merge([request]) } ?? request)))
                continue
            }
            let windowEnd = item.createdAt.addingTimeInterval(window)
            if windowEnd > now, item.attempts == 0 {
                heldUntil = min(heldUntil ?? windowEnd, windowEnd)
                continue
            }
            if groups[key] == nil { order.append(key) }
            groups[key, default: []].append((item, request))
        }
        var requests = singles
        for key in order {
            guard let coalescing else { break }
            for chunk in Self.chunks(groups[key]!, coalescing: coalescing) {
                requests.append((chunk[0].item.id, BatchedRequest(items: chunk.map(\.item), request: coalescing.merge(chunk.map(\.request)))))
            }
        }
        return (requests.sorted { $0.0 < $1.0 }.map(\.1), heldUntil)
    }

    /// Splits sends that share a key into requests of at most `maxSends`, never two with the same
    /// identity in one, and within `maxBytes` (a send bigger than the cap goes alone). First fit:
    /// sends keep their order inside each request.
    static func chunks<T>(_ sends: [(item: T, request: SendRequest)], coalescing: SendCoalescing) -> [[(item: T, request: SendRequest)]] {
        var requests: [[(item: T, request: SendRequest)]] = []
        var identities: [Set<String>] = []
        var sizes: [Int] = []
        for send in sends {
            let id = coalescing.identity(send.request)
            let size = coalescing.size(send.request)
            let fits = { (i: Int) -> Bool in
                requests[i].count < coalescing.maxSends && !identities[i].contains(id) && (coalescing.maxBytes.map { sizes[i] + size <= $0 } ?? true)
            }
            if let i = requests.indices.first(where: fits) {
                requests[i].append(send)
                identities[i].insert(id)
                sizes[i] += size
            } else {
                requests.append([send])
                identities.append([id])
                sizes.append(size)
            }
        }
        return requests
    }
}
