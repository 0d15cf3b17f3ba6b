import EventbaseTestKit

extension ChildProcess.Program {
    /// The fault tests' child, Tests/FaultChild (`EVENTBASE_FAULT_CHILD` overrides its path).
    static let faultChild = ChildProcess.Program(
        product: "eventbase-fault-child", environmentVariable: "EVENTBASE_FAULT_CHILD")
}
