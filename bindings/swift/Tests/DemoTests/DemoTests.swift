import Demo
import Hostcall
import XCTest

final class DemoTests: XCTestCase {
    func testVersionAndAdd() async throws {
        let demo = try Demo()
        defer { demo.close() }
        let version = try await demo.version()
        XCTAssertFalse(version.isEmpty)
        let sum = try await demo.add(a: 2, b: 40)
        XCTAssertEqual(sum, 42)
    }
}
