// Host fn invocations run by a few long-lived worker Tasks on an executor
// of the runtime's own, instead of a Task each.
//
// A Task per invocation costs about 2.5 µs of Swift runtime work here
// (creating, scheduling and freeing it; measured with Swift 6.0.3), and
// 10,000 empty Tasks run at about 350,000/s on two cores: more than the
// whole budget of a host call. So a slot keeps worker Tasks that run its
// invocations one after another, and the executor they run on
// (`HostFnExecutor`, one thread) sees when one of them suspends.
//
// 1. `invoke` (the library's loop thread) queues the invocation under its
//    token, and resumes the slot's parked worker if there is one and no
//    other is on its way. It never waits.
// 2. A worker takes invocations in order and runs each to its end in its
//    own Task: `Task.isCancelled`, `withTaskCancellationHandler` and task
//    locals set inside behave as in a Task of its own. A host fn that
//    answers without suspending costs no Task and no thread switch.
// 3. The executor runs jobs one at a time. When a job returns while a
//    worker is inside a host fn, that host fn has suspended (on a
//    database, a timer). After each job the executor checks every slot:
//    one with invocations queued whose workers are all inside host fns
//    gets another worker. So does an invocation queued while the executor
//    runs no job (its workers' host fns suspended before it came). So a
//    suspended host fn never holds up the others, and workers are only
//    added when one suspends.
// 4. A worker with nothing queued parks; one more than the slot keeps
//    parked ends.
// 5. A cancel notice (the loop thread) drops a queued invocation before it
//    runs, or cancels the worker running it. A cancelled Task stays
//    cancelled, so that worker ends after its invocation, and step 3 adds
//    another if invocations wait.
// 6. `shutdown` (the context closed, after the library's last cancel
//    notice) ends the parked workers and refuses later invocations.
//
// Every worker runs on the executor's one thread, so host fns that compute
// (rather than await) run one at a time; a host fn that computes for long
// should move the work off (`Task.detached`, an actor) and await it.

import Foundation
import Synchronization

/// The thread host fn workers run on: a job queue, run in order.
///
/// `@unchecked Sendable` is safe: `jobs`, `sleeping` and `watched` are only
/// touched while `lock` is held.
@available(macOS 15, iOS 18, tvOS 18, watchOS 11, visionOS 2, *)
final class HostFnExecutor: TaskExecutor, @unchecked Sendable {
    static let shared = HostFnExecutor()

    /// How long the thread watches for a job before it sleeps: the loop
    /// thread hands invocations over a microsecond or two apart in a burst,
    /// and waking a sleeping thread costs 15–60 µs here.
    static let spinNs: UInt64 = 50_000

    /// Running a job, or about to: set before each job, cleared before the
    /// checks that follow it, so an invocation queued while it is set is
    /// seen by those checks (step 3).
    let running = Atomic<Bool>(false)
    private let lock = NSCondition()
    private var jobs: [UnownedJob] = []
    private var sleeping = false
    /// The slots to check after each job (step 3).
    private var watched: [ObjectIdentifier: HostFnWorkers] = [:]

    private init() {
        let thread = Thread { [self] in run() }
        thread.name = "hostcall-swift-host-fns"
        thread.start()
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        lock.lock()
        jobs.append(job)
        let wake = sleeping
        lock.unlock()
        if wake { lock.signal() }
    }

    func watch(_ workers: HostFnWorkers) {
        lock.lock()
        watched[ObjectIdentifier(workers)] = workers
        lock.unlock()
    }

    func unwatch(_ workers: HostFnWorkers) {
        lock.lock()
        watched.removeValue(forKey: ObjectIdentifier(workers))
        lock.unlock()
    }

    private func run() {
        var batch: [UnownedJob] = []
        while true {
            lock.lock()
            if jobs.isEmpty {
                lock.unlock()
                let start = DispatchTime.now().uptimeNanoseconds
                var found = false
                while DispatchTime.now().uptimeNanoseconds - start < HostFnExecutor.spinNs {
                    lock.lock()
                    found = !jobs.isEmpty
                    lock.unlock()
                    if found { break }
                    sched_yield()
                }
                lock.lock()
                while jobs.isEmpty {
                    sleeping = true
                    lock.wait()
                    sleeping = false
                }
            }
            swap(&batch, &jobs)
            let slots = Array(watched.values)
            lock.unlock()
            for job in batch {
                running.store(true, ordering: .sequentiallyConsistent)
                job.runSynchronously(on: asUnownedTaskExecutor())
                running.store(false, ordering: .sequentiallyConsistent)
                for slot in slots { slot.afterJob() }
            }
            batch.removeAll(keepingCapacity: true)
        }
    }
}

/// The workers of one host fn slot (steps 1–6 above).
@available(macOS 15, iOS 18, tvOS 18, watchOS 11, visionOS 2, *)
final class HostFnWorkers: Sendable {
    /// One invocation: its token, the implementation it was invoked with (a
    /// later `replace` does not change it), its CBOR argument array, and
    /// where it is in its life, which a cancel notice and the worker
    /// running it agree on without the slot's lock.
    final class Invocation: Sendable {
        let token: UInt64
        let body: HostFnBody
        let args: [UInt8]
        /// `queued` → `running` → `done`, or `queued` → `dropped` (a cancel
        /// notice before it ran), or `running` → `cancelling` (a cancel
        /// notice while it runs: its worker's Task is being cancelled).
        let phase = Atomic<UInt8>(Invocation.queued)
        static let queued: UInt8 = 0
        static let running: UInt8 = 1
        static let done: UInt8 = 2
        static let dropped: UInt8 = 3
        static let cancelling: UInt8 = 4

        init(token: UInt64, body: @escaping HostFnBody, args: [UInt8]) {
            self.token = token
            self.body = body
            self.args = args
        }
    }

    /// A worker, as the slot's lock guards it.
    struct Worker {
        /// Its Task, to cancel it with the invocation it runs.
        var task: Task<Void, Never>?
        /// Between taking an invocation and taking the next one (or parking).
        var busy = false
    }

    struct State {
        /// Invocations not yet taken, oldest first from `head`.
        var queue: [Invocation] = []
        var head = 0
        /// Every invocation not yet completed or dropped, and the worker
        /// that took it (nil while queued).
        var tokens: [UInt64: (invocation: Invocation, worker: Int?)] = [:]
        var workers: [Int: Worker] = [:]
        var busy = 0
        var nextWorker = 0
        /// The parked worker, waiting for an invocation (true) or the end
        /// (false).
        var parked: (id: Int, wake: CheckedContinuation<Bool, Never>)?
        /// A worker started or resumed that has not taken an invocation yet.
        var onItsWay = false
        var shutDown = false

        var queued: Int { queue.count - head }

        mutating func pop() -> Invocation? {
            guard head < queue.count else { return nil }
            let item = queue[head]
            head += 1
            if head == queue.count {
                queue.removeAll(keepingCapacity: true)
                head = 0
            } else if head >= 1024 && head * 2 >= queue.count {
                queue.removeFirst(head)
                head = 0
            }
            return item
        }

        mutating func idle(_ id: Int) {
            if workers[id]?.busy == true {
                workers[id]?.busy = false
                busy -= 1
            }
        }
    }

    private let state = Locked(State())
    private let complete: @Sendable (UInt64, Int32, [UInt8]) -> Void
    private let executor = HostFnExecutor.shared

    init(complete: @escaping @Sendable (UInt64, Int32, [UInt8]) -> Void) {
        self.complete = complete
        executor.watch(self)
    }

    /// Step 1 (the loop thread).
    func invoke(_ token: UInt64, _ body: @escaping HostFnBody, _ args: [UInt8]) {
        let item = Invocation(token: token, body: body, args: args)
        let wake = state.withLock { s -> CheckedContinuation<Bool, Never>? in
            if s.shutDown { return nil }
            s.queue.append(item)
            s.tokens[token] = (item, nil)
            if s.onItsWay { return nil }
            if let parked = s.parked {
                s.parked = nil
                s.onItsWay = true
                return parked.wake
            }
            // Every worker is inside a host fn. If the executor is between
            // jobs they have all suspended, and nothing would check again.
            if s.busy == s.workers.count && !executor.running.load(ordering: .sequentiallyConsistent) { start(&s) }
            return nil
        }
        wake?.resume(returning: true)
    }

    /// Starts a worker (under the lock, so its handle is stored before
    /// anyone can look it up; the Task takes the lock only once it runs).
    private func start(_ s: inout State) {
        let id = s.nextWorker
        s.nextWorker += 1
        s.onItsWay = true
        s.workers[id] = Worker(task: Task.detached(executorPreference: executor) { [self] in await work(id) })
    }

    /// Step 3 (the executor's thread, between jobs).
    func afterJob() {
        state.withLock { s in
            if !s.shutDown && s.queued > 0 && !s.onItsWay && s.parked == nil && s.busy == s.workers.count {
                start(&s)
            }
        }
    }

    /// Steps 2 and 4: a worker's life. Each turn takes the slot's lock
    /// once: to forget the invocation it finished and take the next.
    private func work(_ id: Int) async {
        var finished: UInt64?
        var retire = false
        while true {
            let next = state.withLock { s -> (item: Invocation?, end: Bool) in
                if let token = finished { s.tokens.removeValue(forKey: token) }
                if s.shutDown || retire || s.workers[id] == nil {
                    s.idle(id)
                    s.workers.removeValue(forKey: id)
                    return (nil, true)
                }
                s.onItsWay = false
                while let item = s.pop() {
                    // One dropped by a cancel notice while queued is skipped.
                    guard s.tokens[item.token] != nil else { continue }
                    s.tokens[item.token] = (item, id)
                    if s.workers[id]?.busy == false {
                        s.workers[id]?.busy = true
                        s.busy += 1
                    }
                    return (item, false)
                }
                s.idle(id)
                if s.parked != nil {
                    s.workers.removeValue(forKey: id)
                    return (nil, true)
                }
                return (nil, false)
            }
            finished = nil
            if next.end { return }
            guard let item = next.item else {
                let goOn = await withCheckedContinuation { (wake: CheckedContinuation<Bool, Never>) in
                    let now: Bool? = state.withLock { s in
                        if s.shutDown { return false }
                        if s.queued > 0 && !s.onItsWay {
                            s.onItsWay = true
                            return true
                        }
                        if s.parked != nil { return false }  // another parked first
                        s.parked = (id, wake)
                        return nil
                    }
                    if let now { wake.resume(returning: now) }
                }
                if !goOn {
                    _ = state.withLock { $0.workers.removeValue(forKey: id) }
                    return
                }
                continue
            }
            guard item.phase.compareExchange(expected: Invocation.queued, desired: Invocation.running, ordering: .acquiringAndReleasing).exchanged else {
                continue  // dropped between the pop and here
            }
            let (ret, answer) = await item.body(item.args)
            if !item.phase.compareExchange(expected: Invocation.running, desired: Invocation.done, ordering: .acquiringAndReleasing).exchanged {
                retire = true  // cancelled while it ran: this Task stays cancelled
            }
            finished = item.token
            complete(item.token, ret, answer)
        }
    }

    /// Step 5 (the loop thread).
    func cancel(_ token: UInt64) {
        let task = state.withLock { s -> Task<Void, Never>? in
            guard let entry = s.tokens.removeValue(forKey: token) else { return nil }
            let invocation = entry.invocation
            if invocation.phase.compareExchange(expected: Invocation.queued, desired: Invocation.dropped, ordering: .acquiringAndReleasing).exchanged {
                return nil
            }
            guard let id = entry.worker,
                invocation.phase.compareExchange(expected: Invocation.running, desired: Invocation.cancelling, ordering: .acquiringAndReleasing).exchanged
            else { return nil }
            return s.workers[id]?.task
        }
        task?.cancel()
    }

    /// Step 6: after the context's destroy.
    func shutdown() {
        executor.unwatch(self)
        let parked = state.withLock { s -> CheckedContinuation<Bool, Never>? in
            s.shutDown = true
            s.queue = []
            s.head = 0
            defer { s.parked = nil }
            return s.parked?.wake
        }
        parked?.resume(returning: false)
    }
}
