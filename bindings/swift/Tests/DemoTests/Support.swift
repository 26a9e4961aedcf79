import Demo
import Foundation
import Hostcall
import XCTest

/// A wait that took longer than its bound.
struct TimedOut: Error {}

/// Bounds a whole test: unless `stop()` is called within `seconds`, the
/// test process ends with a message naming the test. XCTest on Linux has
/// no per-test time limit, so an await that never returns would hold the
/// run; the tests' own waits are bounded as well (`within`, `waitFor`),
/// this catches any other. It runs on a thread of its own, so it fires
/// even if every thread of Swift's pool is stuck.
final class Watchdog: Sendable {
    private let stopped = NSCondition()
    private let state = Locked(false)

    init(_ test: String, seconds: Double) {
        Thread { [self] in
            let deadline = Date(timeIntervalSinceNow: seconds)
            stopped.lock()
            while !state.withLock({ $0 }) {
                if !stopped.wait(until: deadline) {
                    stopped.unlock()
                    FileHandle.standardError.write(Data("\(test) did not finish within \(seconds) s\n".utf8))
                    fatalError("\(test) did not finish within \(seconds) s")
                }
            }
            stopped.unlock()
        }.start()
    }

    func stop() {
        stopped.lock()
        state.withLock { $0 = true }
        stopped.signal()
        stopped.unlock()
    }
}

/// A one-shot latch: `wait()` returns once `countDown()` has been called
/// `count` times. Waiting is cancellable (it returns when its Task is).
final class Latch: Sendable {
    private let state: Locked<(left: Int, next: Int, waiters: [Int: CheckedContinuation<Void, Never>])>

    init(_ count: Int = 1) { state = Locked((count, 0, [:])) }

    func countDown() {
        let ready = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            guard s.left > 0 else { return [] }
            s.left -= 1
            guard s.left == 0 else { return [] }
            defer { s.waiters = [:] }
            return Array(s.waiters.values)
        }
        ready.forEach { $0.resume() }
    }

    var isOpen: Bool { state.withLock { $0.left == 0 } }

    func wait() async {
        let id = state.withLock { s -> Int in
            s.next += 1
            return s.next
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let now = state.withLock { s -> Bool in
                    if s.left == 0 || Task.isCancelled { return true }
                    s.waiters[id] = c
                    return false
                }
                if now { c.resume() }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.resume()
        }
    }
}

/// Runs `body`, failing with `TimedOut` if it takes longer than `seconds`.
/// Returns at the bound even if `body` ignores cancellation (it is then
/// cancelled and left to finish on its own). Cancelling the caller cancels `body`.
func within<T: Sendable>(_ seconds: Double, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    let pending = Locked<CheckedContinuation<T, any Error>?>(nil)
    let finish = { @Sendable (result: Result<T, any Error>) in
        pending.withLock { c -> CheckedContinuation<T, any Error>? in
            defer { c = nil }
            return c
        }?.resume(with: result)
    }
    let tasks = Locked<(work: Task<Void, Never>?, timer: Task<Void, Never>?)>((nil, nil))
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            pending.withLock { $0 = continuation }
            let work = Task {
                do {
                    finish(.success(try await body()))
                } catch {
                    finish(.failure(error))
                }
                tasks.withLock { $0.timer }?.cancel()
            }
            let timer = Task {
                do {
                    try await Task.sleep(nanoseconds: UInt64(seconds * 1e9))
                } catch {
                    return  // the work finished first
                }
                finish(.failure(TimedOut()))
                work.cancel()
            }
            tasks.withLock { $0 = (work, timer) }
            if pending.withLock({ $0 == nil }) { timer.cancel() }  // the work finished before the timer was stored
            if Task.isCancelled { work.cancel() }  // cancelled before the handler could see the work
        }
    } onCancel: {
        tasks.withLock { $0.work }?.cancel()
    }
}

/// Waits for `latch`, at most `seconds`.
func waitFor(_ latch: Latch, _ seconds: Double = 10, file: StaticString = #filePath, line: UInt = #line) async {
    do {
        try await within(seconds) { await latch.wait() }
    } catch {
        XCTFail("waited \(seconds) s in vain", file: file, line: line)
    }
}

/// The error `body` throws (fails if it returns).
func failure<T: Sendable>(_ body: @escaping @Sendable () async throws -> T, file: StaticString = #filePath, line: UInt = #line) async -> (any Error)? {
    do {
        let value = try await within(20, body)
        XCTFail("expected an error, got \(value)", file: file, line: line)
        return nil
    } catch {
        return error
    }
}

func profile(_ id: String) -> Profile { Profile(userId: id, name: "Name of \(id)", age: 30) }

/// `loginMany` of three ids on `demo` (its `fetchProfile` answering), then
/// `close()`: the `progress` stream taken before has all three events, and
/// then ends. What the in-process and the isolated tests both check.
func checkProgressEndsWhenClosed(_ demo: Demo) async throws {
    try demo.setFetchProfile { id in profile(id) }
    let progress = demo.progress
    let collected = Task { () -> [Demo.Progress] in
        var all: [Demo.Progress] = []
        for await p in progress { all.append(p) }
        return all
    }
    _ = try await demo.loginMany(userIds: ["a", "b", "c"])
    demo.close()
    let events = try await within(10) { await collected.value }
    XCTAssertEqual(events.map(\.done), [1, 2, 3])
    XCTAssertEqual(events.map(\.total), [3, 3, 3])
}
