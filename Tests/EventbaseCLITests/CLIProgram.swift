import EventbaseTestKit

extension ChildProcess.Program {
    /// The `eventbase` tool (`EVENTBASE_CLI` overrides its path).
    static let eventbase = ChildProcess.Program(product: "eventbase", environmentVariable: "EVENTBASE_CLI")
}
