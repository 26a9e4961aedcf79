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
// Two locks, so that the loop thread and the workers rarely wait for each
// other (a contended lock is a futex sleep and wake-up, several µs each):
// the *inbox* (the loop thread's side: invocations handed over and not yet
// taken, and the parked worker), held only for an append or a swap, and the
// *state* (the workers' side: the invocations taken from the inbox, the
// workers and what each runs), which the loop thread takes only for a
// cancel notice and the rare case of step 1's last sentence. Lock order:
// state, then inbox.
//
// 1. `invoke` (the library's loop thread) appends the invocation to the
//    inbox, and resumes the slot's parked worker if there is one and no
//    other is on its way. It never waits for Swift work. If there is no
//    parked worker and the executor is between jobs, every worker may be
//    inside a suspended host fn: it then takes the state lock and starts a
//    worker unless one is running or on its way.
// 2. A worker takes invocations in order and runs each to its end in its
//    own Task: `Task.isCancelled`, `withTaskCancellationHandler` and task
//    locals set inside behave as in a Task of its own. A host fn that
//    answers without suspending costs no Task and no thread switch. When
//    the workers' queue is empty, a worker takes the whole inbox at once
//    (one swap for every invocation handed over meanwhile).
// 3. The executor runs jobs one at a time. When a job returns while a
//    worker is inside a host fn, that host fn has suspended (on a
//    database, a timer). After each job the executor checks every slot:
//    one with invocations waiting (in its queue or its inbox) whose workers
//    are all inside host fns gets another worker. So a suspended host fn
//    never holds up the others, and workers are only added when one
//    suspends.
// 4. A worker with nothing queued parks; one more than the slot keeps
//    parked ends.
// 5. A cancel notice (the loop thread) drops an invocation not yet taken
//    by a worker (its closure never runs), or cancels the worker running
//    it. A cancelled Task stays cancelled, so that worker ends after its
//    invocation, and step 3 adds another if invocations wait. A worker and
//    the cancel notice agree on whether its invocation was cancelled
//    through the worker's `phase` (an atomic), so a notice that comes
//    after the invocation ended never cancels the worker.
// 6. `shutdown` (the context closed, after the library's last cancel
//    notice) ends the parked workers and refuses later invocations.
//
// `replace` changes the implementation for invocations handed over after
// it: the first of them carries the new closure, the others none (a
// closure retained and released per invocation on two threads was a
// measurable cost), and the workers, taking invocations in order, switch
// to it there.
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
    /// Jobs queued (mirrors `jobs.count > 0`), so the idle thread can watch
    /// for work without taking the lock the enqueuing thread needs.
    private let pending = Atomic<Bool>(false)
    private let lock = NSCondition()
    private var jobs: [UnownedJob] = []
    private var sleeping = false
    /// The slots to check after each job (step 3).
    private var watched: [ObjectIdentifier: HostFnWorkers] = [:]
    /// Bumped by every change of `watched`: the thread checks its copy
    /// after each job, so a slot added while a batch of jobs runs is checked
    /// after the next job, not only after the next batch.
    private let watchedVersion = Atomic<Int>(0)

    private init() {
        let thread = Thread { [self] in run() }
        thread.name = "hostcall-swift-host-fns"
        thread.start()
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        lock.lock()
        jobs.append(job)
        pending.store(true, ordering: .releasing)
        let wake = sleeping
        lock.unlock()
        if wake { lock.signal() }
    }

    func watch(_ workers: HostFnWorkers) {
        lock.lock()
        watched[ObjectIdentifier(workers)] = workers
        watchedVersion.add(1, ordering: .sequentiallyConsistent)
        lock.unlock()
    }

    func unwatch(_ workers: HostFnWorkers) {
        lock.lock()
        watched.removeValue(forKey: ObjectIdentifier(workers))
        watchedVersion.add(1, ordering: .sequentiallyConsistent)
        lock.unlock()
    }

    private func run() {
        var batch: [UnownedJob] = []
        var slots: [HostFnWorkers] = []
        var version = -1
        while true {
            lock.lock()
            if jobs.isEmpty {
                lock.unlock()
                let start = DispatchTime.now().uptimeNanoseconds
                while !pending.load(ordering: .acquiring) && DispatchTime.now().uptimeNanoseconds - start < HostFnExecutor.spinNs {
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
            pending.store(false, ordering: .relaxed)
            lock.unlock()
            for job in batch {
                running.store(true, ordering: .sequentiallyConsistent)
                job.runSynchronously(on: asUnownedTaskExecutor())
                running.store(false, ordering: .sequentiallyConsistent)
                let now = watchedVersion.load(ordering: .sequentiallyConsistent)
                if now != version {
                    lock.lock()
                    slots.removeAll(keepingCapacity: true)
                    slots.append(contentsOf: watched.values)
                    version = watchedVersion.load(ordering: .sequentiallyConsistent)
                    lock.unlock()
                }
                for slot in slots { slot.afterJob() }
            }
            batch.removeAll(keepingCapacity: true)
        }
    }
}

/// Where one host fn slot's invocations run: its workers (steps 1–6 above),
/// or a Task each where task executors do not exist (`TaskPerInvocation`,
/// Runtime.swift).
protocol HostFnRunner: Sendable {
    func invoke(_ token: UInt64, _ args: [UInt8])
    func cancel(_ token: UInt64)
    func replace(_ body: @escaping HostFnBody)
    func shutdown()
}

/// The workers of one host fn slot (steps 1–6 above).
@available(macOS 15, iOS 18, tvOS 18, watchOS 11, visionOS 2, *)
final class HostFnWorkers: HostFnRunner {
    /// One invocation handed over: its token, its CBOR argument array, and
    /// the implementation from it on when `replace` came before it.
    struct Pending {
        let token: UInt64
        let args: [UInt8]
        let body: HostFnBody?
    }

    /// The loop thread's side (step 1), under its own lock.
    struct Inbox {
        /// Handed over, not yet taken by a worker, oldest first.
        var items: [Pending] = []
        /// The implementation invocations handed over now run with.
        var body: HostFnBody
        /// `replace` came after the last invocation handed over: the next
        /// one carries `body`.
        var replaced = false
        /// The parked worker, waiting for an invocation (true) or the end
        /// (false).
        var parked: CheckedContinuation<Bool, Never>?
        /// A worker started or resumed that has not taken invocations yet.
        var onItsWay = false
        var shutDown = false
    }

    /// Whether a worker's current invocation was cancelled: `running` →
    /// `done` (the worker, after it) or `running` → `cancelling` (a cancel
    /// notice while it runs: the worker's Task is being cancelled).
    final class Phase: Sendable {
        let value = Atomic<UInt8>(Phase.idle)
        static let idle: UInt8 = 0
        static let running: UInt8 = 1
        static let done: UInt8 = 2
        static let cancelling: UInt8 = 3
    }

    /// A worker, as the state lock guards it.
    struct Worker {
        let id: Int
        /// Its Task, to cancel it with the invocation it runs.
        var task: Task<Void, Never>?
        let phase: Phase
        /// The token of the invocation it runs (until it takes the next).
        var current: UInt64?
        /// Between taking an invocation and taking the next one (or parking).
        var busy = false
    }

    /// What a worker's turn took: an invocation and the implementation to
    /// run it with, or nothing (park, or end). A struct, not a tuple: a
    /// closure in a tuple returned through `withLock`'s generic result is
    /// reabstracted, a thunk allocated and called per invocation.
    struct Turn {
        var item: Pending?
        var body: HostFnBody?
        var end = false

        init(end: Bool) { self.end = end }
        init(item: Pending, body: @escaping HostFnBody) {
            self.item = item
            self.body = body
        }
    }

    /// The workers' side, under the state lock.
    struct State {
        /// Invocations taken from the inbox, oldest first from `head`.
        var queue: [Pending] = []
        var head = 0
        /// The tokens in `queue` not yet taken by a worker; a cancel notice
        /// removes its token, and a worker skips an invocation whose token
        /// is gone.
        var queued = TokenSet()
        /// The implementation of the next invocation taken (the workers
        /// switch at an invocation that carries one).
        var body: HostFnBody
        /// In no order; a slot has a few (an array: a worker finds itself
        /// in it faster than it would hash its id).
        var workers: [Worker] = []
        var busy = 0
        var nextWorker = 0
        var shutDown = false

        var waiting: Bool { head < queue.count }

        func index(_ id: Int) -> Int? { workers.firstIndex { $0.id == id } }

        /// Not inside a host fn (any more).
        mutating func idle(_ k: Int) {
            if workers[k].busy {
                workers[k].busy = false
                busy -= 1
            }
        }

        /// Forgets worker `k` (it ends).
        mutating func remove(_ k: Int) {
            idle(k)
            workers.swapAt(k, workers.count - 1)
            workers.removeLast()
        }
    }

    private let inbox: Locked<Inbox>
    private let state: Locked<State>
    private let complete: @Sendable (UInt64, Int32, [UInt8]) -> Void
    private let executor = HostFnExecutor.shared

    init(_ body: @escaping HostFnBody, complete: @escaping @Sendable (UInt64, Int32, [UInt8]) -> Void) {
        inbox = Locked(Inbox(body: body))
        state = Locked(State(body: body))
        self.complete = complete
        executor.watch(self)
    }

    /// Step 1 (the loop thread).
    func invoke(_ token: UInt64, _ args: [UInt8]) {
        var wake: CheckedContinuation<Bool, Never>?
        let check = inbox.withLock { i -> Bool in
            if i.shutDown { return false }
            i.items.append(Pending(token: token, args: args, body: i.replaced ? i.body : nil))
            i.replaced = false
            if i.onItsWay { return false }
            if let parked = i.parked {
                i.parked = nil
                i.onItsWay = true
                wake = parked
                return false
            }
            return true
        }
        if let wake {
            wake.resume(returning: true)
            return
        }
        // Every worker is inside a host fn. If the executor is between
        // jobs they have all suspended, and nothing would check again.
        if check && !executor.running.load(ordering: .sequentiallyConsistent) {
            state.withLock { s in
                if !s.shutDown && s.busy == s.workers.count && inbox.withLock({ !$0.onItsWay && $0.parked == nil }) { start(&s) }
            }
        }
    }

    func replace(_ body: @escaping HostFnBody) {
        inbox.withLock { i in
            i.body = body
            i.replaced = true
        }
    }

    /// Starts a worker (under the state lock, so its handle is stored
    /// before anyone can look it up; the Task takes the lock only once it
    /// runs).
    private func start(_ s: inout State) {
        let id = s.nextWorker
        s.nextWorker += 1
        inbox.withLock { $0.onItsWay = true }
        let phase = Phase()
        s.workers.append(Worker(id: id, phase: phase))
        s.workers[s.workers.count - 1].task = Task.detached(executorPreference: executor) { [self] in await work(id, phase) }
    }

    /// Moves the inbox's invocations to the queue (under the state lock);
    /// `arriving`: a worker on its way has arrived.
    private func takeInbox(_ s: inout State, arriving: Bool) {
        if s.head == s.queue.count {
            s.queue.removeAll(keepingCapacity: true)
            s.head = 0
        } else if s.head >= 1024 && s.head * 2 >= s.queue.count {
            s.queue.removeFirst(s.head)
            s.head = 0
        }
        let from = s.queue.count
        inbox.withLock { i in
            if arriving { i.onItsWay = false }
            if i.items.isEmpty { return }
            if s.queue.isEmpty {
                swap(&s.queue, &i.items)
            } else {
                s.queue.append(contentsOf: i.items)
                i.items.removeAll(keepingCapacity: true)
            }
        }
        for k in from..<s.queue.count { s.queued.insert(s.queue[k].token) }
    }

    /// Step 3 (the executor's thread, between jobs).
    func afterJob() {
        state.withLock { s in
            if s.shutDown || s.busy != s.workers.count { return }
            let (handedOver, quiet) = inbox.withLock { i in (!i.items.isEmpty, !i.onItsWay && i.parked == nil) }
            if quiet && (handedOver || s.waiting) { start(&s) }
        }
    }

    /// Steps 2 and 4: a worker's life. Each turn takes the state lock once:
    /// to forget the invocation it finished and take the next.
    private func work(_ id: Int, _ phase: Phase) async {
        var arriving = true
        var retire = false
        while true {
            let next = state.withLock { s -> Turn in
                guard let me = s.index(id) else {
                    if arriving { inbox.withLock { $0.onItsWay = false } }
                    return Turn(end: true)
                }
                s.workers[me].current = nil
                if s.shutDown || retire {
                    s.remove(me)
                    if arriving { inbox.withLock { $0.onItsWay = false } }
                    return Turn(end: true)
                }
                if !s.waiting || arriving { takeInbox(&s, arriving: arriving) }
                arriving = false
                while s.head < s.queue.count {
                    let item = s.queue[s.head]
                    s.head += 1
                    if let body = item.body { s.body = body }
                    // One dropped by a cancel notice while queued is skipped.
                    guard s.queued.remove(item.token) else { continue }
                    s.workers[me].current = item.token
                    if !s.workers[me].busy {
                        s.workers[me].busy = true
                        s.busy += 1
                    }
                    phase.value.store(Phase.running, ordering: .sequentiallyConsistent)
                    return Turn(item: item, body: s.body)
                }
                s.idle(me)
                if inbox.withLock({ $0.parked != nil }) {
                    s.remove(me)
                    return Turn(end: true)
                }
                return Turn(end: false)
            }
            if next.end { return }
            guard let item = next.item, let body = next.body else {
                let goOn = await withCheckedContinuation { (wake: CheckedContinuation<Bool, Never>) in
                    // The queue counts too: a cancel notice moves the inbox
                    // there (and wakes nobody).
                    let now: Bool? = state.withLock { s in
                        let waiting = s.waiting
                        return inbox.withLock { i in
                            if i.shutDown { return false }
                            if (waiting || !i.items.isEmpty) && !i.onItsWay {
                                i.onItsWay = true
                                return true
                            }
                            if i.parked != nil { return false }  // another parked first
                            i.parked = wake
                            return nil
                        }
                    }
                    if let now { wake.resume(returning: now) }
                }
                if !goOn {
                    state.withLock { s in if let me = s.index(id) { s.remove(me) } }
                    return
                }
                arriving = true
                continue
            }
            let (ret, answer) = await body(item.args)
            if !phase.value.compareExchange(expected: Phase.running, desired: Phase.done, ordering: .sequentiallyConsistent).exchanged {
                retire = true  // cancelled while it ran: this Task stays cancelled
            }
            complete(item.token, ret, answer)
        }
    }

    /// Step 5 (the loop thread).
    func cancel(_ token: UInt64) {
        let task = state.withLock { s -> Task<Void, Never>? in
            if s.shutDown { return nil }
            takeInbox(&s, arriving: false)
            if s.queued.remove(token) { return nil }  // never taken: dropped
            for worker in s.workers where worker.current == token {
                guard worker.phase.value.compareExchange(expected: Phase.running, desired: Phase.cancelling, ordering: .sequentiallyConsistent).exchanged
                else { return nil }
                return worker.task
            }
            return nil
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
            s.queued = TokenSet()
            return inbox.withLock { i in
                i.shutDown = true
                i.items = []
                defer { i.parked = nil }
                return i.parked
            }
        }
        parked?.resume(returning: false)
    }
}

/// A set of host call tokens: open addressing with linear probing and a
/// cheap hash (the library's tokens are opaque, but they are unique and
/// spread in their low bits). A `Set<UInt64>` hashes with SipHash and
/// costs several times as much per insert and removal. It grows at half
/// full and shrinks at an eighth, so a burst of host calls does not keep
/// its memory once the burst is over.
struct TokenSet {
    /// Slots: 0 is empty; a token is stored as itself, except that a token
    /// of 0 is kept in `hasZero`.
    private var slots: [UInt64] = Array(repeating: 0, count: TokenSet.minimumCapacity)
    private var hasZero = false
    private(set) var count = 0

    /// The fewest slots the set keeps.
    static let minimumCapacity = 64

    /// Slots held now (a power of two).
    var capacity: Int { slots.count }

    private var mask: Int { slots.count - 1 }

    private func home(_ token: UInt64) -> Int {
        Int(truncatingIfNeeded: (token &* 0x9E37_79B9_7F4A_7C15) >> 32) & mask
    }

    mutating func insert(_ token: UInt64) {
        if token == 0 {
            if !hasZero { count += 1 }
            hasZero = true
            return
        }
        if (count + 1) * 2 > slots.count { rehash(into: slots.count * 2) }
        var i = home(token)
        while slots[i] != 0 {
            if slots[i] == token { return }
            i = (i + 1) & mask
        }
        slots[i] = token
        count += 1
    }

    /// Removes `token`; whether it was there.
    mutating func remove(_ token: UInt64) -> Bool {
        if token == 0 {
            defer { hasZero = false }
            if hasZero { count -= 1 }
            return hasZero
        }
        var i = home(token)
        while slots[i] != token {
            if slots[i] == 0 { return false }
            i = (i + 1) & mask
        }
        // Backward-shift deletion: move later entries of the run up into
        // the hole, so lookups never need tombstones.
        var hole = i
        var j = i
        while true {
            j = (j + 1) & mask
            let t = slots[j]
            if t == 0 { break }
            let h = home(t)
            // `t` may fill the hole when its home is not in (hole, j].
            let between = hole <= j ? (h > hole && h <= j) : (h > hole || h <= j)
            if !between {
                slots[hole] = t
                hole = j
            }
        }
        slots[hole] = 0
        count -= 1
        if slots.count > TokenSet.minimumCapacity && count * 8 < slots.count {
            rehash(into: slots.count / 2)
        }
        return true
    }

    private mutating func rehash(into capacity: Int) {
        let old = slots
        slots = Array(repeating: 0, count: capacity)
        for t in old where t != 0 {
            var i = home(t)
            while slots[i] != 0 { i = (i + 1) & mask }
            slots[i] = t
        }
    }
}
