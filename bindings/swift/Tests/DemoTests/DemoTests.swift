import Demo
@testable import Hostcall
import XCTest

final class DemoTests: XCTestCase {
    /// Every test is bounded as a whole (see `Watchdog`).
    override func setUp() {
        super.setUp()
        let watchdog = Watchdog(name, seconds: 120)
        addTeardownBlock { watchdog.stop() }
    }

    private func demo(_ config: DemoConfig = DemoConfig()) throws -> Demo {
        let demo = try Demo(config: config)
        addTeardownBlock { demo.close() }
        return demo
    }

    private func withProfiles(_ demo: Demo) throws {
        try demo.setFetchProfile { id in profile(id) }
    }

    func testVersionAndAdd() async throws {
        let demo = try demo()
        let version = try await demo.version()
        XCTAssertFalse(version.isEmpty)
        let sum = try await demo.add(a: 2, b: 40)
        XCTAssertEqual(sum, 42)
        let negative = try await demo.add(a: -50, b: 8)
        XCTAssertEqual(negative, -42)
    }

    func testAddOverflowIsTheLibrarysErrorText() async throws {
        let demo = try demo()
        let error = await failure { try await demo.add(a: Int64.max, b: 1) }
        XCTAssertEqual(error as? HostcallError, .failed("integer overflow: \(Int64.max) + 1 does not fit in i64"))
    }

    func testLogin() async throws {
        let demo = try demo()
        try withProfiles(demo)
        let session = try await demo.login(userId: "u1")
        XCTAssertEqual(session, Session(userId: "u1", greeting: "Hello, Name of u1"))
    }

    func testLoginMany() async throws {
        let demo = try demo()
        try withProfiles(demo)
        let ids = (0..<100).map { "u\($0)" }
        let sessions = try await demo.loginMany(userIds: ids)
        XCTAssertEqual(sessions.map(\.userId), ids)
        let none = try await demo.loginMany(userIds: [])
        XCTAssertEqual(none, [])
    }

    func testFirstProfileCancelsTheOtherHostCalls() async throws {
        // Every slow fetch that started sees its cancellation; one the
        // library drops before it starts never runs.
        let demo = try demo()
        let slow = ["slow1", "slow2"]
        let cancelled = Dictionary(uniqueKeysWithValues: slow.map { ($0, Latch()) })
        let started = Locked<Set<String>>([])
        try demo.setFetchProfile { id in
            if id == "fast" { return profile(id) }
            started.withLock { _ = $0.insert(id) }
            do {
                try await Task.sleep(nanoseconds: 30_000_000_000)  // until cancelled
            } catch {
                cancelled[id]?.countDown()
            }
            throw CancellationError()
        }
        let first = try await within(20) { try await demo.firstProfile(userIds: ["slow1", "fast", "slow2"]) }
        XCTAssertEqual(first, profile("fast"))
        // Those that started by now must each see their cancellation.
        for id in started.withLock({ $0 }) {
            await waitFor(cancelled[id]!)
        }
    }

    func testPingHost() async throws {
        let demo = try demo()
        let got = Locked<[String]>([])
        try demo.setNotify { message in got.withLock { $0.append(message) } }
        try await demo.pingHost(message: "hi")
        XCTAssertEqual(got.withLock { $0 }, ["hi"])
    }

    func testPanicWith() async throws {
        let demo = try demo()
        let error = await failure { try await demo.panicWith(message: "boom") }
        guard case .panicked(let text)? = error as? HostcallError else {
            return XCTFail("expected panicked, got \(String(describing: error))")
        }
        XCTAssertTrue(text.contains("boom"), text)
        // The context keeps working.
        let sum = try await demo.add(a: 1, b: 1)
        XCTAssertEqual(sum, 2)
    }

    func testHostFnErrorText() async throws {
        struct DbDown: Error, CustomStringConvertible { var description: String { "db down" } }
        let demo = try demo()
        try demo.setFetchProfile { _ in throw DbDown() }
        let error = await failure { try await demo.login(userId: "u1") }
        XCTAssertEqual(error as? HostcallError, .failed("host fetch failed: db down"))
    }

    func testUnregisteredHostFn() async throws {
        let demo = try demo()
        let error = await failure { try await demo.login(userId: "u1") }
        XCTAssertEqual(error as? HostcallError, .failed("host fetch failed: host fn 'fetch_profile' not registered"))
    }

    func testReplacingAHostFn() async throws {
        let demo = try demo()
        try demo.setFetchProfile { id in Profile(userId: id, name: "A", age: 1) }
        let a = try await demo.login(userId: "u1")
        try demo.setFetchProfile { id in Profile(userId: id, name: "B", age: 1) }
        let b = try await demo.login(userId: "u1")
        XCTAssertEqual([a.greeting, b.greeting], ["Hello, A", "Hello, B"])
    }

    /// Replacing the host fn 300 times while 2,000 logins are queued, five
    /// rounds: every call is answered, each by one of the closures set.
    func testReplacingAHostFnUnderLoad() async throws {
        let demo = try demo()
        let generations = 300
        try demo.setFetchProfile { id in Profile(userId: id, name: "0", age: 0) }
        for _ in 0..<5 {
            let answers = try await within(60) {
                try await withThrowingTaskGroup(of: Int?.self) { group in
                    for i in 0..<2_000 {
                        group.addTask { Int(try await demo.login(userId: "u\(i)").greeting.dropFirst("Hello, ".count)) }
                    }
                    for g in 1...generations {
                        try demo.setFetchProfile { id in Profile(userId: id, name: "\(g)", age: UInt32(g)) }
                    }
                    var all: [Int?] = []
                    for try await a in group { all.append(a) }
                    return all
                }
            }
            XCTAssertEqual(answers.count, 2_000)
            XCTAssertTrue(answers.allSatisfy { $0.map { (0...generations).contains($0) } ?? false }, "an answer from no closure set")
        }
    }

    func testTypedErrorsBothWays() async throws {
        let demo = try demo()
        try demo.setFindAccount { id in
            switch id {
            case "nf": throw AccountError.notFound(userId: id)
            case "locked": throw AccountError.locked(untilUnixS: 1_900_000_000)
            case "susp": throw AccountError.suspended("fraud review", 1_700_000_000)
            case "plain": throw HostcallError.failed("db down")
            default: return profile(id)
            }
        }
        let ok = try await demo.signIn(userId: "u1")
        XCTAssertEqual(ok.userId, "u1")
        let cases: [(String, SignInError)] = [
            ("nf", .notFound(userId: "nf")),
            ("locked", .locked(untilUnixS: 1_900_000_000)),
            ("susp", .suspended("fraud review", 1_700_000_000)),
            ("", .emptyUserId),
            ("plain", .unavailable("db down")),
        ]
        for (id, expected) in cases {
            let error = await failure { try await demo.signIn(userId: id) }
            XCTAssertEqual(error as? SignInError, expected, "sign_in(\(id))")
        }
    }

    func testTokenSetAgreesWithSet() {
        // The host fn workers' set of queued tokens (open addressing,
        // backward-shift removal) against `Set`: tokens shaped like the
        // library's (slot index, generation), random ones, 0, and runs of
        // neighbours, inserted and removed in a random order.
        var rng: UInt64 = 0x2545_F491_4F6C_DD1D
        func next() -> UInt64 {
            rng ^= rng << 13
            rng ^= rng >> 7
            rng ^= rng << 17
            return rng
        }
        var tokens = TokenSet()
        var reference = Set<UInt64>()
        for round in 0..<20_000 {
            let token: UInt64
            switch next() % 4 {
            case 0: token = (next() % 64) | ((next() % 4) << 24)
            case 1: token = next()
            case 2: token = next() % 3 == 0 ? 0 : UInt64(round % 97)
            default: token = UInt64(round) &* 0x1_0000_0000
            }
            if next() % 3 == 0 {
                XCTAssertEqual(tokens.remove(token), reference.remove(token) != nil, "removing \(token) in round \(round)")
            } else {
                tokens.insert(token)
                reference.insert(token)
            }
            XCTAssertEqual(tokens.count, reference.count)
        }
        let grown = tokens.capacity
        for token in reference { XCTAssertTrue(tokens.remove(token), "\(token) lost") }
        XCTAssertEqual(tokens.count, 0)
        XCTAssertFalse(tokens.remove(0))
        // Drained, it gives its memory back.
        XCTAssertGreaterThan(grown, TokenSet.minimumCapacity)
        XCTAssertEqual(tokens.capacity, TokenSet.minimumCapacity)
    }

    func testStreamingCodecAgreesWithTheTree() throws {
        // A fixed-seed generator: the same cases every run.
        var seed: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> UInt64 {
            seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return seed >> 11
        }
        let alphabet = Array("aZ09 _-é€𝄞\u{0}\"\\")
        func text() -> String { String((0..<Int(next() % 40)).map { _ in alphabet[Int(next() % UInt64(alphabet.count))] }) }
        var profiles: [Profile] = []
        for _ in 0..<2_000 {
            let p = Profile(userId: text(), name: text(), age: UInt32(truncatingIfNeeded: next() >> UInt64(next() % 33)))
            XCTAssertEqual(CBORWriter.encode(p), p.cbor.encoded())
            XCTAssertEqual(try CBORReader.decode(p.cbor.encoded(), as: Profile.self), p)
            profiles.append(p)
        }
        let list = CBORWriter.encode(profiles)
        XCTAssertEqual(list, profiles.cbor.encoded())
        XCTAssertEqual(try [Profile](cbor: CBOR.decode(list)), profiles)
        XCTAssertEqual(try CBORReader.decode(list, as: [Profile].self), profiles)

        let edges: [Int64] = [0, 1, 23, 24, 255, 256, 65_535, 65_536, 4_294_967_295, 4_294_967_296, .max, -1, -24, -25, -256, -257, -65_537, .min]
        for v in edges {
            XCTAssertEqual(CBORWriter.encode(v), v.cbor.encoded())
            XCTAssertEqual(try CBORReader.decode(v.cbor.encoded(), as: Int64.self), v)
            XCTAssertEqual((try? CBORReader.decode(v.cbor.encoded(), as: UInt8.self)), try? UInt8(cbor: v.cbor))
        }
        for v in [UInt64.max, 1 << 63] {
            XCTAssertEqual(try CBORReader.decode(v.cbor.encoded(), as: UInt64.self), v)
            XCTAssertThrowsError(try CBORReader.decode(v.cbor.encoded(), as: Int64.self))
        }
        for d in [0.0, -1.5, .infinity, 1e300] {
            XCTAssertEqual(CBORWriter.encode(d), d.cbor.encoded())
            XCTAssertEqual(try CBORReader.decode(d.cbor.encoded(), as: Double.self), d)
        }
        XCTAssertEqual(try CBORReader.decode(Optional<String>.none.cbor.encoded(), as: String?.self), nil)
        XCTAssertEqual(try CBORReader.decode(Bytes([0, 255]).cbor.encoded(), as: Bytes.self), Bytes([0, 255]))

        // Keys in another order, and an unknown key of every kind, skipped.
        let extra = CBOR.map([
            CBORPair(.text("age"), .unsigned(7)),
            CBORPair(.text("extra"), .array([.map([CBORPair(.text("x"), .double(1.5))]), .bytes([1, 2]), .null, .bool(true), .negative(300)])),
            CBORPair(.text("name"), .text("N")),
            CBORPair(.text("user_id"), .text("u")),
        ]).encoded()
        XCTAssertEqual(try CBORReader.decode(extra, as: Profile.self), Profile(userId: "u", name: "N", age: 7))

        // What the tree refuses, the reader refuses: a missing field, the
        // wrong type, invalid UTF-8, trailing bytes, and every truncation.
        let missing = CBOR.map([CBORPair(.text("user_id"), .text("u")), CBORPair(.text("name"), .text("N"))]).encoded()
        XCTAssertThrowsError(try CBORReader.decode(missing, as: Profile.self))
        XCTAssertThrowsError(try CBORReader.decode(CBOR.text("x").encoded(), as: Profile.self))
        XCTAssertThrowsError(try CBORReader.decode([0x62, 0xc3, 0x28], as: String.self))
        XCTAssertThrowsError(try CBORReader.decode([0x01, 0x02], as: Int64.self))
        let two = CBORWriter.encode(Array(profiles.prefix(2)))
        for n in 0..<two.count {
            XCTAssertThrowsError(try CBORReader.decode(Array(two.prefix(n)), as: [Profile].self), "prefix of \(n) bytes")
        }
    }

    func testTypedErrorCodecRoundTrips() throws {
        let all: [SignInError] = [
            .emptyUserId, .notFound(userId: "u"), .locked(untilUnixS: 7), .suspended("r", 9), .unavailable("x"),
        ]
        for e in all {
            XCTAssertEqual(try SignInError(cbor: CBOR.decode(e.cbor.encoded())), e)
        }
        XCTAssertEqual(SignInError.emptyUserId.cbor, .text("EmptyUserId"))
    }

    func testCancellingTheCallersTaskWithdrawsTheRequest() async throws {
        let demo = try demo()
        let started = Latch()
        let hostFnCancelled = Latch()
        try demo.setFetchProfile { id in
            started.countDown()
            await withTaskCancellationHandler {
                try? await Task.sleep(nanoseconds: 30_000_000_000)  // until cancelled
            } onCancel: {
                hostFnCancelled.countDown()
            }
            return profile(id)
        }
        let call = Task { try await demo.login(userId: "u1") }
        await waitFor(started)
        call.cancel()
        let error = await failure { try await call.value }
        guard case .cancelled(let text)? = error as? HostcallError else {
            return XCTFail("expected cancelled, got \(String(describing: error))")
        }
        XCTAssertEqual(text, "request 'login' cancelled")
        await waitFor(hostFnCancelled)
        // The context keeps working.
        try withProfiles(demo)
        let session = try await demo.login(userId: "u2")
        XCTAssertEqual(session.userId, "u2")
    }

    func testCancelledBeforeTheCallStarts() async throws {
        let demo = try demo()
        try withProfiles(demo)
        let call = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return try await demo.login(userId: "u1")
        }
        let error = await failure { try await call.value }
        guard case .cancelled? = error as? HostcallError else {
            return XCTFail("expected cancelled, got \(String(describing: error))")
        }
    }

    func testHostCallTimeoutCancelsTheHostFnsTask() async throws {
        let demo = try demo(DemoConfig(hostCallTimeout: .milliseconds(50)))
        let hostFnCancelled = Latch()
        try demo.setFetchProfile { id in
            do {
                try await Task.sleep(nanoseconds: 30_000_000_000)  // until cancelled
            } catch {
                hostFnCancelled.countDown()
            }
            return profile(id)
        }
        let error = await failure { try await demo.login(userId: "u1") }
        guard case .failed(let text)? = error as? HostcallError else {
            return XCTFail("expected failed, got \(String(describing: error))")
        }
        XCTAssertTrue(text.contains("timed out"), text)
        await waitFor(hostFnCancelled)
    }

    func testABadConfigIsRefused() throws {
        XCTAssertThrowsError(try Demo(config: DemoConfig(maxInFlight: 0))) { error in
            guard case .refused(let status, let detail)? = error as? HostcallError else {
                return XCTFail("expected refused, got \(error)")
            }
            XCTAssertEqual(status, Status.invalidArg)
            XCTAssertTrue(detail.contains("max_in_flight"), detail)
        }
        // Durations the binding refuses before the library sees them, and
        // one the library refuses (a spin over its 10 ms bound).
        let refused: [(DemoConfig, String)] = [
            (DemoConfig(hostCallTimeout: .zero), "hostCallTimeout must be positive"),
            (DemoConfig(hostCallTimeout: .milliseconds(-5)), "hostCallTimeout must be positive"),
            (DemoConfig(spin: .microseconds(-1)), "spin must be zero or positive"),
            (DemoConfig(hostCallTimeout: .seconds(Int64.max)), "hostCallTimeout is too long"),
            (DemoConfig(spin: .milliseconds(11)), "spin_us"),
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
        // Rounded up to the key's unit: a microsecond of timeout is 1 ms, not
        // 0 (none); zero spin is allowed.
        for config in [DemoConfig(hostCallTimeout: .microseconds(1)), DemoConfig(spin: .zero), DemoConfig(spin: .nanoseconds(1))] {
            XCTAssertNoThrow(try Demo(config: config).close())
        }
    }

    func testASubMillisecondTimeoutIsNotNone() async throws {
        // 1 µs rounds up to 1 ms: the host call times out instead of waiting.
        let demo = try demo(DemoConfig(hostCallTimeout: .microseconds(1)))
        try demo.setFetchProfile { id in
            try? await Task.sleep(nanoseconds: 30_000_000_000)  // until cancelled
            return profile(id)
        }
        let error = await failure { try await demo.login(userId: "u1") }
        guard case .failed(let text)? = error as? HostcallError else {
            return XCTFail("expected the handler's failure, got \(String(describing: error))")
        }
        XCTAssertTrue(text.contains("timed out"), text)
    }

    func testCloseFailsPendingCalls() async throws {
        let demo = try Demo()
        let n = 20
        let started = Latch(n)
        let hostFnsCancelled = Latch(n)
        try demo.setFetchProfile { id in
            started.countDown()
            do {
                try await Task.sleep(nanoseconds: 30_000_000_000)  // until cancelled
            } catch {
                hostFnsCancelled.countDown()
            }
            return profile(id)
        }
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
        let late = await failure { try await demo.version() }
        XCTAssertEqual(late as? HostcallError, .closed)
        XCTAssertThrowsError(try demo.setNotify { _ in }) { XCTAssertEqual($0 as? HostcallError, .closed) }
        demo.close()  // idempotent
    }

    func testCloseFromInsideAHostFn() async throws {
        let demo = try Demo()
        try demo.setFetchProfile { [demo] id in
            demo.close()
            return profile(id)
        }
        let error = await failure { try await demo.login(userId: "u1") }
        guard case .shuttingDown? = error as? HostcallError else {
            return XCTFail("expected shuttingDown, got \(String(describing: error))")
        }
    }

    func testCancellingANativeCallWithdrawsIt() async throws {
        let demo = try demo()
        let started = Latch()
        let hostFnCancelled = Latch()
        try demo.setNotify { _ in
            started.countDown()
            await withTaskCancellationHandler {
                try? await Task.sleep(nanoseconds: 30_000_000_000)  // until cancelled
            } onCancel: {
                hostFnCancelled.countDown()
            }
        }
        let call = Task { try await demo.pingHost(message: "hi") }
        await waitFor(started)
        call.cancel()
        let error = await failure { try await call.value }
        guard case .cancelled(let text)? = error as? HostcallError else {
            return XCTFail("expected cancelled, got \(String(describing: error))")
        }
        XCTAssertEqual(text, "request 'ping_host' cancelled")
        await waitFor(hostFnCancelled)
        // Native calls after close throw `closed`.
        demo.close()
        let late = await failure { try await demo.add(a: 1, b: 2) }
        XCTAssertEqual(late as? HostcallError, .closed)
    }

    func testContextsClosingEachOtherFromHostFns() async throws {
        let a = try demo()
        let b = try demo()
        let bothIn = Latch(2)
        let bothClosed = Latch(2)
        try a.setFetchProfile { [b] id in
            bothIn.countDown()
            await bothIn.wait()
            b.close()
            bothClosed.countDown()
            return profile(id)
        }
        try b.setFetchProfile { [a] id in
            bothIn.countDown()
            await bothIn.wait()
            a.close()
            bothClosed.countDown()
            return profile(id)
        }
        let calls = [a, b].map { d in Task { try await d.login(userId: "u1") } }
        for call in calls {
            // Answered, or failed by the other context's close: never lost.
            do {
                let session = try await within(20) { try await call.value }
                XCTAssertEqual(session.userId, "u1")
            } catch let error as HostcallError {
                guard case .shuttingDown = error else { return XCTFail("expected shuttingDown, got \(error)") }
            }
        }
        // A call can be answered before the other host fn's close() is
        // done: wait for both closes before checking.
        await waitFor(bothClosed)
        for d in [a, b] {
            let late = await failure { try await d.version() }
            XCTAssertEqual(late as? HostcallError, .closed)
        }
    }

    func testCloseFromAnEventConsumer() async throws {
        let demo = try Demo()
        let release = Latch()
        try demo.setFetchProfile { id in
            if id != "first" { await release.wait() }  // held until the context closes
            return profile(id)
        }
        let progress = demo.progress
        let consumer = Task { () -> Int in
            var seen = 0
            for await _ in progress {
                seen += 1
                demo.close()  // from the consumer, with fetches pending
            }
            return seen
        }
        let error = await failure { try await demo.loginMany(userIds: ["first", "second", "third"]) }
        guard case .shuttingDown? = error as? HostcallError else {
            return XCTFail("expected shuttingDown, got \(String(describing: error))")
        }
        let seen = try await within(10) { await consumer.value }
        XCTAssertEqual(seen, 1)  // the stream ended at close
        release.countDown()
    }

    func testASuspendedHostFnDoesNotHoldUpTheOthers() async throws {
        // "slow" waits for "last", which is invoked after it: a host fn that
        // suspends must not keep the later invocations from running.
        let demo = try demo()
        let lastRan = Latch()
        try demo.setFetchProfile { id in
            if id == "slow" { await lastRan.wait() }
            if id == "last" { lastRan.countDown() }
            return profile(id)
        }
        let sessions = try await within(20) { try await demo.loginMany(userIds: ["slow", "a", "b", "last"]) }
        XCTAssertEqual(sessions.map(\.userId), ["slow", "a", "b", "last"])
    }

    func testAThousandHostFnsSuspendedAtOnce() async throws {
        // Each waits until all have started: every one must be running at once.
        let demo = try demo()
        let n = 1_000
        let allStarted = Latch(n)
        try demo.setFetchProfile { id in
            allStarted.countDown()
            await allStarted.wait()
            return profile(id)
        }
        let ids = (0..<n).map { "u\($0)" }
        let sessions = try await within(30) { try await demo.loginMany(userIds: ids) }
        XCTAssertEqual(sessions.map(\.userId), ids)
    }

    func testInvocationsAfterACancelledOneAreNotCancelled() async throws {
        let demo = try demo()
        let cancelledAtStart = Locked(0)
        let calls = Locked(0)
        try demo.setFetchProfile { id in
            calls.withLock { $0 += 1 }
            // The library never cancels "fast" (it answers first); a slow
            // fetch may be cancelled just as it starts, and then sees it.
            if id == "fast" && Task.isCancelled { cancelledAtStart.withLock { $0 += 1 } }
            if id != "fast" {
                try? await Task.sleep(nanoseconds: 30_000_000_000)  // until cancelled
            }
            return profile(id)
        }
        for round in 0..<20 {
            // The library cancels the two slow fetches once "fast" answers.
            let first = try await within(20) { try await demo.firstProfile(userIds: ["slow\(round)", "fast", "slower\(round)"]) }
            XCTAssertEqual(first.userId, "fast")
            let session = try await within(20) { try await demo.login(userId: "fast") }
            XCTAssertEqual(session.userId, "fast")
        }
        XCTAssertEqual(cancelledAtStart.withLock { $0 }, 0, "an invocation nobody cancelled started in a cancelled Task")
        // Each round's "fast" fetch and login ran; a slow fetch dropped while
        // still queued never runs.
        XCTAssertTrue((40...80).contains(calls.withLock { $0 }), "\(calls.withLock { $0 }) invocations")
    }

    func testManyConcurrentLogins() async throws {
        let demo = try demo()
        try withProfiles(demo)
        let n = 10_000
        let sessions = try await within(60) {
            try await withThrowingTaskGroup(of: Session.self) { group in
                for i in 0..<n { group.addTask { try await demo.login(userId: "u\(i)") } }
                var all: [Session] = []
                for try await s in group { all.append(s) }
                return all
            }
        }
        XCTAssertEqual(Set(sessions.map(\.userId)), Set((0..<n).map { "u\($0)" }))
    }

    func testLoginManyOf10000() async throws {
        let demo = try demo()
        try withProfiles(demo)
        let ids = (0..<10_000).map { "u\($0)" }
        let sessions = try await within(60) { try await demo.loginMany(userIds: ids) }
        XCTAssertEqual(sessions.count, ids.count)
    }

    func testProgressEventsEndWhenTheContextCloses() async throws {
        let demo = try Demo()
        try await checkProgressEndsWhenClosed(demo)
        // A stream taken after close ends at once.
        var late = 0
        for await _ in demo.progress { late += 1 }
        XCTAssertEqual(late, 0)
    }

    func testAnEventStreamsConsumerCanStop() async throws {
        let demo = try demo()
        try withProfiles(demo)
        let progress = demo.progress  // subscribed here, before the events
        let first = Task { () -> Demo.Progress? in
            for await p in progress { return p }
            return nil
        }
        _ = try await demo.loginMany(userIds: ["a", "b"])
        let got = try await within(10) { await first.value }
        XCTAssertEqual(got?.done, 1)
        // The listener is gone; the context keeps working.
        _ = try await demo.loginMany(userIds: ["c"])
    }

    func testAHostFnCallsBackIntoTheLibrary() async throws {
        let demo = try demo()
        try demo.setFetchProfile { [demo] id in
            // Re-entrant: a handler of the same context from inside a host fn.
            let age = try await demo.add(a: 40, b: 2)
            return Profile(userId: id, name: "N", age: UInt32(age))
        }
        try demo.setNotify { [demo] message in
            _ = try await demo.login(userId: message)
        }
        try await demo.pingHost(message: "u1")
        let session = try await demo.login(userId: "u2")
        XCTAssertEqual(session.greeting, "Hello, N")
    }

    func testALateCompletionAfterCancellationIsHarmless() async throws {
        let demo = try demo()
        let started = Latch()
        let answered = Latch()
        try demo.setFetchProfile { id in
            started.countDown()
            // Waits until cancelled, then answers anyway: a completion after the withdrawal.
            try? await within(30) { await Latch().wait() }
            answered.countDown()
            return profile(id)
        }
        let call = Task { try await demo.login(userId: "u1") }
        await waitFor(started)
        call.cancel()
        let error = await failure { try await call.value }
        guard case .cancelled? = error as? HostcallError else {
            return XCTFail("expected cancelled, got \(String(describing: error))")
        }
        await waitFor(answered)
        try withProfiles(demo)
        let session = try await demo.login(userId: "u2")
        XCTAssertEqual(session.userId, "u2")
    }
}
