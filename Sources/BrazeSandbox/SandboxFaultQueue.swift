/// The faults waiting for calls, first injected first used.
struct SandboxFaultQueue: Sendable {
    private(set) var faults: [SandboxFault] = []

    mutating func add(_ fault: SandboxFault) {
        faults.append(fault)
    }

    mutating func removeAll() {
        faults.removeAll()
    }

    /// The first fault matching `endpoint`, counting one use of it.
    mutating func take(for endpoint: SandboxEndpoint) -> SandboxFault? {
        guard let index = faults.firstIndex(where: { $0.matches(endpoint) }) else { return nil }
        let fault = faults[index]
        if let count = fault.count {
            if count <= 1 {
                faults.remove(at: index)
            } else {
                faults[index].count = count - 1
            }
        }
        return fault
    }
}
