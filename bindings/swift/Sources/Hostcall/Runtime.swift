// The Swift runtime support of generated hostcall bindings: the registries
// the C trampolines look ids up in, and the hand-off of replies and host fn
// invocations off the library's loop thread. Hand-written; the generated
// binding (`Demo.swift`) holds the `@convention(c)` trampolines, because they
// call the library's prefixed C functions, and passes them here.
//
// Everything the loop thread calls takes a lock for a dictionary lookup,
// resumes a continuation or starts/cancels a Task, and returns: it never
// waits for Swift async work. `user_data` is always an integer id into a
// registry, never a pointer to a Swift object, so a callback arriving after
// its object is gone finds nothing and does nothing.

import Foundation

/// A value guarded by a lock.
///
/// `@unchecked Sendable` is safe: `value` is only read or written inside
/// `withLock`, while `lock` is held, and is itself `Sendable`, so what
/// `withLock` hands out may cross threads.
public final class Locked<Value: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value
    public init(_ value: Value) { self.value = value }
    public func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}

/// What a request ended with.
public enum Reply: Sendable {
    /// The library's reply: an outcome code and its payload (a native
    /// entry point's failure, too: its text).
    case outcome(Int32, [UInt8])
    /// A native entry point's successful scalar result, as its callback
    /// carries it (integers widened, floats as `Double`).
    case signed(Int64)
    case unsigned(UInt64)
    case double(Double)
    case bool(Bool)
    /// The entry point refused the request (a status code), with the
    /// library's explanation.
    case refused(Int32, String)
}

/// Copies a callback's payload (valid only during the callback).
public func copyPayload(_ msg: UnsafePointer<CChar>?, _ len: Int) -> [UInt8] {
    guard let msg, len > 0 else { return [] }
    return msg.withMemoryRebound(to: UInt8.self, capacity: len) { Array(UnsafeBufferPointer(start: $0, count: len)) }
}

/// Runs `body` with a byte array as a C `(const char *, size_t)` pair.
public func withCBytes<R>(_ bytes: [UInt8], _ body: (UnsafePointer<CChar>?, Int) -> R) -> R {
    bytes.withUnsafeBufferPointer { buf in
        guard let base = buf.baseAddress, buf.count > 0 else { return body(nil, 0) }
        return base.withMemoryRebound(to: CChar.self, capacity: buf.count) { body($0, buf.count) }
    }
}

/// Runs `body` with a string's UTF-8 as a C `(const char *, size_t)` pair.
public func withCText<R>(_ text: String, _ body: (UnsafePointer<CChar>?, Int) -> R) -> R {
    var text = text
    return text.withUTF8 { utf8 in
        body(utf8.baseAddress.map { UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self) }, utf8.count)
    }
}

/// Values by the integer id a callback's `user_data` carries: ids are
/// never reused, so a callback arriving after its value was taken finds
/// nothing.
final class Registry<Value: Sendable>: Sendable {
    private let table = Locked<(next: UInt, items: [UInt: Value])>((1, [:]))

    /// Adds a value; its id (`UnsafeMutableRawPointer(bitPattern:)` of it
    /// is the `user_data`).
    func add(_ value: Value) -> UInt {
        table.withLock { t in
            let key = t.next
            t.next += 1
            t.items[key] = value
            return key
        }
    }

    /// The value a callback's `user_data` names.
    func get(_ userData: UnsafeMutableRawPointer?) -> Value? {
        table.withLock { $0.items[UInt(bitPattern: userData)] }
    }

    func take(_ key: UInt) -> Value? {
        table.withLock { $0.items.removeValue(forKey: key) }
    }

    func take(_ userData: UnsafeMutableRawPointer?) -> Value? { take(UInt(bitPattern: userData)) }
}

/// The requests in flight, by the id their reply callback's `user_data` carries.
public enum Calls {
    private static let table = Registry<CheckedContinuation<Reply, Never>>()

    /// Makes a request and awaits its reply. `start` calls the library's
    /// `_cancellable` entry point with the reply trampoline, the `user_data`
    /// given and the call id's address, and returns its status; `lastError`
    /// reads the library's explanation (on the same thread, right after).
    /// Cancelling the awaiting Task withdraws the request with `cancel`.
    public static func perform(
        start: (UnsafeMutableRawPointer?, UnsafeMutablePointer<UInt64>) -> Int32,
        lastError: () -> String,
        cancel: @escaping @Sendable (UInt64) -> Void
    ) async -> Reply {
        // The call id once known, and whether the Task was cancelled: the
        // cancel handler may run before, during or after `start`.
        let state = Locked<(id: UInt64, cancelled: Bool)>((0, false))
        // A Task cancelled already never sends the request (a withdrawal
        // right after sending it could lose the race with its reply).
        if Task.isCancelled { return .outcome(Outcome.cancelled, Array("request cancelled before it was sent".utf8)) }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Reply, Never>) in
                let key = table.add(continuation)
                var id: UInt64 = 0
                let status = start(UnsafeMutableRawPointer(bitPattern: key), &id)
                if status != Status.ok {
                    let detail = lastError()
                    table.take(key)?.resume(returning: .refused(status, detail))
                    return
                }
                let cancelNow = state.withLock { s -> Bool in
                    s.id = id
                    return s.cancelled
                }
                if cancelNow { cancel(id) }
            }
        } onCancel: {
            let id = state.withLock { s -> UInt64 in
                s.cancelled = true
                return s.id
            }
            if id != 0 { cancel(id) }
        }
    }

    /// The reply trampoline's body (on the loop thread).
    public static func complete(_ userData: UnsafeMutableRawPointer?, _ ret: Int32, _ msg: UnsafePointer<CChar>?, _ len: Int) {
        resume(userData, .outcome(ret, copyPayload(msg, len)))
    }

    /// The scalar reply trampolines' bodies (on the loop thread): the value
    /// on success, else the outcome and its text.
    public static func completeI64(_ userData: UnsafeMutableRawPointer?, _ ret: Int32, _ value: Int64, _ err: UnsafePointer<CChar>?, _ len: Int) {
        resume(userData, ret == Outcome.ok ? .signed(value) : .outcome(ret, copyPayload(err, len)))
    }

    public static func completeU64(_ userData: UnsafeMutableRawPointer?, _ ret: Int32, _ value: UInt64, _ err: UnsafePointer<CChar>?, _ len: Int) {
        resume(userData, ret == Outcome.ok ? .unsigned(value) : .outcome(ret, copyPayload(err, len)))
    }

    public static func completeF64(_ userData: UnsafeMutableRawPointer?, _ ret: Int32, _ value: Double, _ err: UnsafePointer<CChar>?, _ len: Int) {
        resume(userData, ret == Outcome.ok ? .double(value) : .outcome(ret, copyPayload(err, len)))
    }

    public static func completeBool(_ userData: UnsafeMutableRawPointer?, _ ret: Int32, _ value: Bool, _ err: UnsafePointer<CChar>?, _ len: Int) {
        resume(userData, ret == Outcome.ok ? .bool(value) : .outcome(ret, copyPayload(err, len)))
    }

    private static func resume(_ userData: UnsafeMutableRawPointer?, _ reply: Reply) {
        table.take(userData)?.resume(returning: reply)
    }

    /// A native integer result as the declared type; a value out of its
    /// range is malformed.
    public static func integer<T: FixedWidthInteger>(of reply: Reply, _ function: String) throws -> T {
        switch reply {
        case .signed(let v): if let x = T(exactly: v) { return x }
        case .unsigned(let v): if let x = T(exactly: v) { return x }
        default:
            _ = try payload(of: reply, typed: nil)
        }
        throw HostcallError.malformed("\(function): not a \(T.self): \(reply)")
    }

    /// A native float result as the declared type.
    public static func float<T: BinaryFloatingPoint>(of reply: Reply, _ function: String) throws -> T {
        if case .double(let v) = reply { return T(v) }
        _ = try payload(of: reply, typed: nil)
        throw HostcallError.malformed("\(function): not a \(T.self): \(reply)")
    }

    /// A native bool result.
    public static func bool(of reply: Reply, _ function: String) throws -> Bool {
        if case .bool(let v) = reply { return v }
        _ = try payload(of: reply, typed: nil)
        throw HostcallError.malformed("\(function): not a Bool: \(reply)")
    }

    /// The payload of a successful reply; otherwise throws the failure:
    /// `typed` decodes a `RET_ERR_TYPED` payload into the function's error
    /// type (nil: the function declares none).
    public static func payload(of reply: Reply, typed: (([UInt8]) throws -> any Error)?) throws -> [UInt8] {
        switch reply {
        case .refused(let status, let detail):
            if status == Status.invalidContext { throw HostcallError.closed }
            throw HostcallError.refused(status: status, detail: detail)
        case .outcome(Outcome.ok, let payload):
            return payload
        case .signed, .unsigned, .double, .bool:
            throw HostcallError.malformed("a scalar reply where a payload was expected: \(reply)")
        case .outcome(Outcome.errTyped, let payload):
            guard let typed else { throw HostcallError.malformed("a typed error from a function that declares none") }
            throw try typed(payload)
        case .outcome(let ret, let payload):
            throw HostcallError(outcome: ret, text: String(decoding: payload, as: UTF8.self))
        }
    }
}

/// A host fn's Swift implementation: takes the CBOR argument array and
/// answers an outcome code and its payload.
public typealias HostFnBody = @Sendable ([UInt8]) async -> (Int32, [UInt8])

/// One host fn of one context: its implementation and where its
/// invocations run.
public final class HostFnSlot: Sendable {
    /// Its workers (`HostFnWorkers`, HostFnWorkers.swift) where task
    /// executors exist (Swift 6 runtimes: Linux, macOS 15, iOS 18),
    /// elsewhere a Task per invocation; behind a protocol, because a stored
    /// property cannot be availability-gated (and a cast per invocation was
    /// a measurable cost).
    private let runner: any HostFnRunner

    /// `complete` answers a token (the library's `host_complete`).
    public init(_ body: @escaping HostFnBody, complete: @escaping @Sendable (UInt64, Int32, [UInt8]) -> Void) {
        if #available(macOS 15, iOS 18, tvOS 18, watchOS 11, visionOS 2, *) {
            runner = HostFnWorkers(body, complete: complete)
        } else {
            runner = TaskPerInvocation(body, complete: complete)
        }
    }

    /// Replaces the implementation for every later invocation.
    public func replace(_ body: @escaping HostFnBody) { runner.replace(body) }

    /// Runs an invocation off the loop thread (on the loop thread).
    func invoke(_ token: UInt64, _ args: [UInt8]) { runner.invoke(token, args) }

    /// The library dropped the call (on the loop thread).
    func cancel(_ token: UInt64) { runner.cancel(token) }

    /// The context was destroyed: parked workers end.
    func shutdown() { runner.shutdown() }
}

/// A Task per invocation, by token: where task executors do not exist.
final class TaskPerInvocation: HostFnRunner {
    /// The implementation, in a struct: a closure stored directly as a
    /// `Locked` value is reabstracted to the generic representation and
    /// back on every `withLock` (its `inout` access writes it back), so each
    /// read wrapped it in two more thunks, and the N-th invocation of a host
    /// fn ran through 2N of them (a `login` took 0.7 ms after a few seconds
    /// of benchmark).
    struct Implementation {
        var body: HostFnBody
    }

    private let implementation: Locked<Implementation>
    private let complete: @Sendable (UInt64, Int32, [UInt8]) -> Void
    private let tasks = Locked<[UInt64: Task<Void, Never>]>([:])

    init(_ body: @escaping HostFnBody, complete: @escaping @Sendable (UInt64, Int32, [UInt8]) -> Void) {
        implementation = Locked(Implementation(body: body))
        self.complete = complete
    }

    func replace(_ body: @escaping HostFnBody) { implementation.withLock { $0.body = body } }

    func invoke(_ token: UInt64, _ args: [UInt8]) {
        let body = implementation.withLock { $0.body }
        let complete = self.complete
        // The Task is stored under the lock it removes itself under, so it
        // cannot remove itself before it is stored.
        tasks.withLock { tasks in
            tasks[token] = Task.detached { [self] in
                let (ret, answer) = await body(args)
                _ = self.tasks.withLock { $0.removeValue(forKey: token) }
                complete(token, ret, answer)
            }
        }
    }

    func cancel(_ token: UInt64) { tasks.withLock { $0.removeValue(forKey: token) }?.cancel() }

    func shutdown() {}
}

/// The host fn slots, by the id their registration's `user_data` carries.
public enum HostFns {
    private static let table = Registry<HostFnSlot>()

    /// Adds a slot; its key is the registration's `user_data`.
    public static func add(_ slot: HostFnSlot) -> UInt { table.add(slot) }

    /// Drops a slot (its context was destroyed): later callbacks find
    /// nothing, and its parked workers end.
    public static func remove(_ key: UInt) { table.take(key)?.shutdown() }

    /// The host fn trampoline's body (on the loop thread): hands the
    /// invocation to the slot.
    public static func invoke(_ userData: UnsafeMutableRawPointer?, _ token: UInt64, _ req: UnsafePointer<CChar>?, _ len: Int) {
        let bytes = copyPayload(req, len)
        table.get(userData)?.invoke(token, bytes)
    }

    /// The cancel notifier's body (on the loop thread): drops the
    /// invocation, or cancels the Task running it.
    public static func cancel(_ userData: UnsafeMutableRawPointer?, _ token: UInt64) {
        table.get(userData)?.cancel(token)
    }

    /// A host fn's answer for an error it threw that is not its declared
    /// error type: `RET_ERR` with the error's text.
    public static func failure(_ error: any Error) -> (Int32, [UInt8]) {
        var text = String(describing: error)
        if text.isEmpty { text = "host fn failed" }
        return (Outcome.err, Array(text.utf8))
    }
}

/// The event listeners, by the id their `user_data` carries.
public enum Events {
    private static let table = Registry<@Sendable ([UInt8]) -> Void>()

    /// Adds a sink (it yields into an `AsyncStream`); its key is the listener's `user_data`.
    public static func add(_ sink: @escaping @Sendable ([UInt8]) -> Void) -> UInt { table.add(sink) }

    /// Drops a sink: later emissions to it find nothing.
    public static func remove(_ key: UInt) { _ = table.take(key) }

    /// The listener trampoline's body (on the loop thread): copies the
    /// payload and yields it (`AsyncStream` buffers; it never blocks).
    public static func deliver(_ userData: UnsafeMutableRawPointer?, _ ret: Int32, _ msg: UnsafePointer<CChar>?, _ len: Int) {
        guard ret == Outcome.ok else { return }
        let bytes = copyPayload(msg, len)
        if let sink = table.get(userData) { sink(bytes) }
    }
}
