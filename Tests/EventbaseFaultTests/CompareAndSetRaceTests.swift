import Eventbase
import EventbaseCore
import EventbaseTestKit
import Foundation
import Testing

/// Compare-and-set races between instances: exactly one winner per round, the others get `.conflict`.
@Suite(.enabled(if: NATSServerFixture.isAvailable), .serialized, .timeLimit(.minutes(1)))
struct CompareAndSetRaceTests {
    @Test func everyCompareAndSetRaceHasExactlyOneWinner() async throws {
        let stream = "faults_cas"
        let rounds = scenarioLoad(30) / 5 + 14
        try await withNATSServer { server in
            var instances: [Instance] = []
            do {
                for _ in 0..<3 { instances.append(try await Instance.open(url: server.url, stream: stream)) }
                var revision: UInt64?
                var conflicts = 0
                for round in 0..<rounds {
                    let expected = revision
                    let outcomes = await withTaskGroup(of: Result<UInt64, EventbaseError>.self) { group in
                        for (index, instance) in instances.enumerated() {
                            group.addTask {
                                do {
                                    let record = try await instance.eventbase.put(
                                        "race", ["round": .number(Double(round)), "by": .number(Double(index))],
                                        expectedRevision: expected)
                                    return .success(record.meta.revision)
                                } catch let error as EventbaseError {
                                    return .failure(error)
                                } catch {
                                    return .failure(EventbaseError(.internalError, "\(error)"))
                                }
                            }
                        }
                        return await group.reduce(into: []) { $0.append($1) }
                    }
                    let winners = outcomes.compactMap { try? $0.get() }
                    let losers = outcomes.compactMap { outcome -> EventbaseError.Code? in
                        if case .failure(let error) = outcome { return error.code }
                        return nil
                    }
                    #expect(winners.count == 1, "round \(round): \(outcomes)")
                    #expect(losers.allSatisfy { $0 == .conflict }, "round \(round): \(losers)")
                    conflicts += losers.count
                    guard let winner = winners.first else { break }
                    revision = winner
                    for instance in instances { try await instance.waitUntilApplied(winner) }
                }
                let documents = try await instances.asyncMap { try await $0.documents() }
                let divergent = Set(documents.map(IndependentFold.hash)).count - 1
                #expect(divergent == 0)
                print(
                    "FAULT-FIGURES scenario=cas-race rounds=\(rounds) instances=3 conflicts=\(conflicts) divergent=\(divergent)"
                )
            } catch {
                for instance in instances { await instance.close() }
                throw error
            }
            for instance in instances { await instance.close() }
        }
    }
}

extension Array where Element: Sendable {
    /// Maps in order, awaiting each element.
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var results: [T] = []
        for element in self { results.append(try await transform(element)) }
        return results
    }
}
