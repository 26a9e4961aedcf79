import Demo
import Foundation
import Hostcall
import XCTest

/// The binding with `isolation: .process`: the library runs in a
/// `hostcall-helper` process (found beside libdemo.so), and a crash there
/// fails the pending calls with `processDied` instead of ending the tests.
final class IsolationTests: XCTestCase {
    /// Every test is bounded as a whole (see `Watchdog`).
    override func setUp() {
        super.setUp()
        let watchdog = Watchdog(name, seconds: 120)
        addTeardownBlock { watchdog.stop() }
    }

    private func isolated(_ config: DemoConfig = DemoConfig()) throws -> Demo {
        var config = config
        config.isolation = .process
        let demo = try Demo(config: config)
        addTeardownBlock { demo.close() }
        return demo
    }

    /// A `fetch_profile` that counts its invocations down on `started` and
    /// never answers: it waits until its Task is cancelled (the library's
    /// cancel notice), then counts down on `cancelled`.
    private func neverAnswering(_ demo: Demo, started: Latch, cancelled: Latch) throws {
        try demo.setFetchProfile { id in
            started.countDown()
            do {
                try await Task.sleep(nanoseconds: 30_000_000_000)  // until cancelled
            } catch {
                cancelled.countDown()
            }
            throw CancellationError()
        }
    }

    func testNativeHandlersThroughTheHelper() async throws {
        // version, add, echo and ping_host have native entry points: an
        // isolated context sends their arguments to the helper as CBOR and
        // hands the typed result back.
        let demo = try isolated()
        let version = try await demo.version()
        XCTAssertFalse(version.isEmpty)
        let sum = try await demo.add(a: 2, b: 40)
        XCTAssertEqual(sum, 42)
        let error = await failure { try await demo.add(a: Int64.max, b: 1) }
        XCTAssertEqual(error as? HostcallError, .failed("integer overflow: \(Int64.max) + 1 does not fit in i64"))
        let bytes = Bytes([0, 1, 2, 255])
        let echoed = try await demo.echo(data: bytes)
        XCTAssertEqual(echoed, bytes)
        let got = Locked<[String]>([])
        try demo.setNotify { message in got.withLock { $0.append(message) } }
        try await demo.pingHost(message: "hi")
        XCTAssertEqual(got.withLock { $0 }, ["hi"])
    }

    func testLoginWithAHostFn() async throws {
        let demo = try isolated()
        try demo.setFetchProfile { id in profile(id) }
        let session = try await demo.login(userId: "u1")
        XCTAssertEqual(session, Session(userId: "u1", greeting: "Hello, Name of u1"))
        let ids = (0..<100).map { "u\($0)" }
        let sessions = try await demo.loginMany(userIds: ids)
        XCTAssertEqual(sessions.map(\.userId), ids)
    }

    func testCancellingTheCallersTaskWithdrawsTheRequest() async throws {
        let demo = try isolated()
        let started = Latch()
        let hostFnCancelled = Latch()
        try neverAnswering(demo, started: started, cancelled: hostFnCancelled)
        let call = Task { try await demo.login(userId: "u1") }
        await waitFor(started)
        call.cancel()
        let error = await failure { try await call.value }
        guard case .cancelled? = error as? HostcallError else {
            return XCTFail("expected cancelled, got \(String(describing: error))")
        }
        // The withdrawal reaches the helper, whose handler's dropped host
        // call cancels the host fn's Task here.
        await waitFor(hostFnCancelled)
        try demo.setFetchProfile { id in profile(id) }
        let session = try await demo.login(userId: "u2")
        XCTAssertEqual(session.userId, "u2")
    }

    func testProgressEvents() async throws {
        try await checkProgressEndsWhenClosed(try isolated())
    }

    func testCloseFailsPendingCalls() async throws {
        let demo = try isolated()
        let n = 10
        let started = Latch(n)
        let hostFnsCancelled = Latch(n)
        try neverAnswering(demo, started: started, cancelled: hostFnsCancelled)
        let calls = (0..<n).map { i in Task { try await demo.login(userId: "u\(i)") } }
        await waitFor(started)
        demo.close()
        for call in calls {
            let error = await failure { try await call.value }
            guard case .shuttingDown? = error as? HostcallError else {
                return XCTFail("expected shuttingDown, got \(String(describing: error))")
            }
        }
        await waitFor(hostFnsCancelled)
        let late = await failure { try await demo.add(a: 1, b: 2) }
        XCTAssertEqual(late as? HostcallError, .closed)
    }

    /// `n` logins pending on a host fn that never answers, then the
    /// helper crashes: the crashing call and each pending one fail with
    /// `processDied`, and the host fn Tasks are cancelled.
    private func crashWithLoginsPending(_ demo: Demo, file: StaticString = #filePath, line: UInt = #line) async throws {
        let n = 8
        let started = Latch(n)
        let hostFnsCancelled = Latch(n)
        try neverAnswering(demo, started: started, cancelled: hostFnsCancelled)
        let logins = (0..<n).map { i in Task { try await demo.login(userId: "u\(i)") } }
        await waitFor(started, file: file, line: line)
        let crash = await failure { try await demo.crash(kind: "segfault") }
        guard case .processDied(let text)? = crash as? HostcallError else {
            return XCTFail("expected processDied, got \(String(describing: crash))", file: file, line: line)
        }
        XCTAssertTrue(text.contains("SIGSEGV"), text, file: file, line: line)
        for login in logins {
            let error = await failure { try await login.value }
            guard case .processDied? = error as? HostcallError else {
                return XCTFail("expected processDied, got \(String(describing: error))", file: file, line: line)
            }
        }
        await waitFor(hostFnsCancelled, file: file, line: line)
    }

    func testACrashFailsThePendingCallsAndTheHelperIsRestarted() async throws {
        let demo = try isolated()
        try await crashWithLoginsPending(demo)
        // The next calls go to a new helper, which knows the host fns.
        let sum = try await within(20) { try await demo.add(a: 1, b: 2) }
        XCTAssertEqual(sum, 3)
        try demo.setFetchProfile { id in profile(id) }
        let session = try await within(20) { try await demo.login(userId: "again") }
        XCTAssertEqual(session.userId, "again")
        // And it can die and come back again.
        try await crashWithLoginsPending(demo)
        let again = try await within(20) { try await demo.add(a: 2, b: 2) }
        XCTAssertEqual(again, 4)
    }

    func testWithoutRestartLaterCallsAreRefused() async throws {
        let demo = try isolated(DemoConfig(restart: false))
        try await crashWithLoginsPending(demo)
        let later: [@Sendable () async throws -> Void] = [
            { _ = try await demo.add(a: 1, b: 2) },
            { _ = try await demo.login(userId: "u") },
        ]
        for call in later {
            let error = await failure(call)
            guard case .refused(let status, let detail)? = error as? HostcallError else {
                return XCTFail("expected refused, got \(String(describing: error))")
            }
            XCTAssertEqual(status, Status.shuttingDown)
            XCTAssertTrue(detail.contains("restart: false"), detail)
        }
        demo.close()
        let late = await failure { try await demo.add(a: 1, b: 2) }
        XCTAssertEqual(late as? HostcallError, .closed)
    }

    func testIsolationOptions() async throws {
        // Each option reaches the library as its key: limits and a
        // handshake timeout it accepts, the helper it is told to start.
        let demo = try isolated(
            DemoConfig(
                handshakeTimeout: .seconds(10), limitAddressSpaceMb: 1 << 16, limitCpuSeconds: 600,
                limitOpenFiles: 256))
        let sum = try await demo.add(a: 20, b: 22)
        XCTAssertEqual(sum, 42)
        XCTAssertThrowsError(try Demo(config: DemoConfig(isolation: .process, helperPath: "/nonexistent/hostcall-helper"))) { error in
            guard case .refused(_, let detail)? = error as? HostcallError else {
                return XCTFail("expected refused, got \(error)")
            }
            XCTAssertTrue(detail.contains("/nonexistent/hostcall-helper"), detail)
        }
        // In process, explicitly: the native entry points are used.
        let local = try Demo(config: DemoConfig(isolation: .inProcess))
        defer { local.close() }
        let three = try await local.add(a: 1, b: 2)
        XCTAssertEqual(three, 3)
    }

    func testIsolationOptionsRefused() throws {
        // Refused by the binding (a zero handshake timeout: nil is the
        // default), and by the library (an isolation key without isolation).
        let refused: [(DemoConfig, String)] = [
            (DemoConfig(isolation: .process, handshakeTimeout: .zero), "handshakeTimeout must be positive"),
            (DemoConfig(isolation: .process, handshakeTimeout: .milliseconds(600_001)), "handshake_timeout_ms"),
            (DemoConfig(restart: false), "restart"),
            (DemoConfig(helperPath: "/usr/bin/hostcall-helper"), "helper_path"),
            (DemoConfig(limitOpenFiles: 64), "limit_open_files"),
        ]
        for (config, text) in refused {
            XCTAssertThrowsError(try Demo(config: config)) { error in
                guard case .refused(let status, let detail)? = error as? HostcallError else {
                    return XCTFail("expected refused, got \(error)")
                }
                XCTAssertEqual(status, Status.invalidArg)
                XCTAssertTrue(detail.contains(text), detail)
            }
        }
    }

    /// The directory of the libdemo.so this process loaded (the helper is
    /// beside it), from /proc/self/maps.
    private func libraryDir() throws -> String {
        // Read to the end: a /proc file reports a size of 0.
        guard let file = FileHandle(forReadingAtPath: "/proc/self/maps") else {
            throw HelperMissing(why: "cannot open /proc/self/maps")
        }
        let maps = String(decoding: file.readDataToEndOfFile(), as: UTF8.self)
        for line in maps.split(separator: "\n") {
            guard let slash = line.firstIndex(of: "/") else { continue }
            let path = String(line[slash...])
            if path.hasSuffix("/libdemo.so") {
                return (path as NSString).deletingLastPathComponent
            }
        }
        throw HelperMissing(why: "no libdemo.so in /proc/self/maps")
    }

    private struct HelperMissing: Error {
        let why: String
    }

    /// Starts `hostcall-helper` serving libdemo at `flag place`; returns it
    /// and the address it printed once it accepts connections. The test's
    /// teardown kills it.
    private func listeningHelper(_ flag: String, _ place: String) throws -> (Process, String) {
        let dir = try libraryDir()
        let helper = Process()
        helper.executableURL = URL(fileURLWithPath: dir + "/hostcall-helper")
        helper.arguments = ["--library", dir + "/libdemo.so", flag, place]
        let out = Pipe()
        helper.standardOutput = out
        try helper.run()
        addTeardownBlock {
            kill(helper.processIdentifier, SIGKILL)
            helper.waitUntilExit()
        }
        var line = Data()
        while !line.contains(UInt8(ascii: "\n")) {
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty { break }  // the helper ended
            line.append(chunk)
        }
        let address = String(decoding: line, as: UTF8.self).trimmingCharacters(in: .newlines)
        XCTAssertFalse(address.isEmpty, "the helper ended before it listened")
        return (helper, address)
    }

    func testContextsShareAHelperOnAUnixSocket() async throws {
        let path = NSTemporaryDirectory() + "hostcall-swift-\(getpid()).sock"
        let (_, address) = try listeningHelper("--socket", path)
        XCTAssertEqual(address, path)
        var config = DemoConfig()
        config.isolation = .socket
        config.address = address
        let a = try Demo(config: config)
        let b = try Demo(config: config)
        defer { a.close() }
        try a.setFetchProfile { id in profile(id) }
        try b.setFetchProfile { id in Profile(userId: id, name: "B", age: 1) }
        for i in 0..<10 {
            let fromA = try await a.login(userId: "u\(i)")
            XCTAssertEqual(fromA, Session(userId: "u\(i)", greeting: "Hello, Name of u\(i)"))
            let fromB = try await b.login(userId: "u\(i)")
            XCTAssertEqual(fromB.greeting, "Hello, B")
        }
        b.close()
        let sum = try await a.add(a: 1, b: 2)
        XCTAssertEqual(sum, 3, "one context closing leaves the others")
    }

    func testAHelperOnTCPAndItsDeath() async throws {
        let (helper, address) = try listeningHelper("--tcp", "127.0.0.1:0")
        var config = DemoConfig()
        config.isolation = .tcp
        config.address = address
        config.restart = false
        let demo = try Demo(config: config)
        defer { demo.close() }
        let started = Latch()
        let hostFnCancelled = Latch()
        try neverAnswering(demo, started: started, cancelled: hostFnCancelled)
        let held = Task { try await demo.login(userId: "held") }
        await waitFor(started)
        kill(helper.processIdentifier, SIGKILL)
        let error = await failure { try await held.value }
        guard case .processDied(let text)? = error as? HostcallError else {
            return XCTFail("expected processDied, got \(String(describing: error))")
        }
        XCTAssertEqual(text, "library process died: its connection (tcp \(address)) ended")
        await waitFor(hostFnCancelled)
    }
}
