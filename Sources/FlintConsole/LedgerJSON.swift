import FlintCore
import FlintPluginAPI
import FlintRules
import Foundation

/// The stable `--json` shapes of ledger listings (documented in docs/cli.md), printed by the CLI and
/// served by the console's API (docs/api.md) from this one code, so both give the same bytes.
extension RunRecord {
    public var json: JSONValue {
        var braze: [String: JSONValue] = [:]
        braze["schedule_id"] = scheduleId.map { .string($0) } ?? .null
        braze["dispatch_id"] = dispatchId.map { .string($0) } ?? .null
        return [
            "id": .number(Double(id)),
            "event_id": .string(eventId),
            "event_seq": .number(Double(eventSeq)),
            "rule_id": .string(ruleId),
            "rule_version": .string(ruleVersion),
            "user": .string(user),
            "status": .string(status.rawValue),
            "reason": .string(reason),
            "action": .string(action),
            "send_at": sendAt.map { .string(Timestamp.formatUTC($0)) } ?? .null,
            "schedule": schedule ?? .null,
            "request": request ?? .null,
            "braze": .object(braze),
            "cancelled_by": cancelledBy.map { .string($0) } ?? .null,
            "trace": trace.json,
            "created_at": .string(Timestamp.formatUTCMillis(createdAt)),
            "updated_at": .string(Timestamp.formatUTCMillis(updatedAt)),
        ]
    }
}

extension RunTrace {
    public var json: JSONValue {
        var o: [String: JSONValue] = [
            "gates": .array(gates.map { ["name": .string($0.name), "passed": .bool($0.passed), "detail": .string($0.detail)] }),
            "steps": .array(steps.map { step in
                var s: [String: JSONValue] = ["kind": .string(step.kind.rawValue), "message": .string(step.message)]
                if let i = step.instant { s["instant"] = .string(Timestamp.formatUTC(i)) }
                return .object(s)
            }),
        ]
        if let zone { o["zone"] = .string(zone) }
        if let oncePerKey { o["once_per_key"] = .string(oncePerKey) }
        if let note { o["note"] = .string(note) }
        if let f = failedCondition {
            o["failed_condition"] = ["path": .string(f.path), "op": .string(f.op), "expected": f.expected, "seen": f.seen ?? .null, "explanation": .string(f.explanation)]
        }
        return .object(o)
    }
}

extension EventRecord {
    public var json: JSONValue {
        [
            "seq": .number(Double(seq)), "id": .string(messageId), "type": .string(type.rawValue),
            "name": name.map { .string($0) } ?? .null, "user": .string(userKey),
            "user_id": userId.map { .string($0) } ?? .null, "anonymous_id": anonymousId.map { .string($0) } ?? .null,
            "timestamp": .string(Timestamp.formatUTCMillis(timestamp)), "received_at": .string(Timestamp.formatUTCMillis(receivedAt)),
            "source": .string(source), "body": body,
        ]
    }
}

extension RejectedRecord {
    public var json: JSONValue {
        [
            "id": .number(Double(id)), "received_at": .string(Timestamp.formatUTCMillis(receivedAt)), "source": .string(source),
            "index": .number(Double(index)), "errors": .array(errors.map { .string($0) }), "body": .string(body),
            "origin": origin?.json ?? .null,
        ]
    }
}
