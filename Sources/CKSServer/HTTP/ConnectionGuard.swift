import CKSDomain
import CKSWire
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTPTypes
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Limits that keep slow, idle or numerous clients from tying the core up.
///
/// - A request must arrive whole, head and body, within `readTimeout` of its first byte: a client that stalls or
///   dribbles a head is disconnected, one that stalls a body gets a 408 AWS error first.
/// - A connection with no request under way is closed after `idleTimeout` (Hummingbird's idle handler).
/// - At most `maxConnections` are open at once. At the limit a new client is still accepted: the connection that
///   has gone longest without a complete request (stalled in one, or idle) is closed to make room. A
///   connection whose request is being answered is never closed for room; when every one is, new clients wait in
///   the listen backlog until one closes.
public struct ConnectionLimits: Sendable, Hashable {
    /// nil: never close idle connections (not advised for a core others can reach).
    public var idleTimeout: Duration?
    /// nil: no limit on how long a request may take to arrive (not advised either).
    public var readTimeout: Duration?
    public var maxConnections: Int

    public init(idleTimeout: Duration? = .seconds(60), readTimeout: Duration? = .seconds(10), maxConnections: Int = 1024) {
        self.idleTimeout = idleTimeout
        self.readTimeout = readTimeout
        self.maxConnections = maxConnections
    }

    /// File descriptors the process keeps for itself beyond the connections (SQLite, logs, the listener, pipes,
    /// and the few connections accepted beyond the limit while the ones closed for them finish closing).
    static let reservedDescriptors = 128

    /// Connections accepted beyond the limit while the ones closed to make room have not finished closing.
    static let acceptedBeyondLimit = 32

    /// The listen backlog: connections the kernel completes and queues until they are accepted. A full queue
    /// drops new clients' SYNs, and they retry only a second later; a long one keeps them queued while the core
    /// works through a burst (the kernel caps it at `net.core.somaxconn`).
    static let listenBacklog = 4096

    /// Raises the soft open-files limit towards the hard one so `maxConnections` fit, and returns the cap that
    /// really fits (lower than asked when the hard limit is too low), so accepting can never fail with EMFILE.
    static func fitDescriptorLimit(_ wanted: Int) -> (cap: Int, softLimit: Int) {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return (wanted, -1) }
        let infinity = rlim_t.max  // RLIM_INFINITY, which Swift imports as a literal it cannot fit
        let needed = rlim_t(wanted + reservedDescriptors)
        if limit.rlim_cur != infinity, limit.rlim_cur < needed {
            var raised = limit
            raised.rlim_cur = limit.rlim_max == infinity ? needed : min(needed, limit.rlim_max)
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { limit = raised }
        }
        if limit.rlim_cur == infinity { return (wanted, Int.max) }
        let soft = Int(clamping: limit.rlim_cur)
        return (max(1, min(wanted, soft - reservedDescriptors)), soft)
    }

    static func timeAmount(_ duration: Duration?) -> TimeAmount? {
        duration.map { TimeAmount.nanoseconds(Int64($0.components.seconds) * 1_000_000_000 + $0.components.attoseconds / 1_000_000_000) }
    }
}

/// Where one connection is in its request, readable from any thread (the table scans it from the accepting loop).
final class ConnectionActivity: Sendable {
    enum Phase: UInt8 {
        /// No request under way (just accepted, or between requests).
        case idle = 0
        /// A request's first byte arrived; its head or body has not fully.
        case receiving = 1
        /// The request arrived whole; it is being answered.
        case answering = 2
        /// Chosen to be closed (for room, or a read timeout): nothing more of it reaches the responder.
        case closing = 3
    }

    let channel: any Channel
    private let phaseValue = Atomic<UInt8>(Phase.idle.rawValue)
    /// When the current phase began, in `NIODeadline.now()` nanoseconds.
    private let sinceValue: Atomic<UInt64>

    init(channel: any Channel) {
        self.channel = channel
        sinceValue = Atomic(NIODeadline.now().uptimeNanoseconds)
    }

    var phase: Phase { Phase(rawValue: phaseValue.load(ordering: .acquiring)) ?? .closing }
    var since: UInt64 { sinceValue.load(ordering: .relaxed) }

    /// Moves from `from` to `to` unless another thread moved it first (to `closing`); returns whether it moved.
    @discardableResult
    func move(from: Phase, to: Phase) -> Bool {
        guard phaseValue.compareExchange(expected: from.rawValue, desired: to.rawValue, ordering: .acquiringAndReleasing).exchanged
        else { return false }
        sinceValue.store(NIODeadline.now().uptimeNanoseconds, ordering: .relaxed)
        return true
    }
}

/// The core's open connections: counts them for the accept loop (Hummingbird's `AvailableConnectionsDelegate`)
/// and, at the limit, closes the one that has gone longest without a complete request (stalled mid-request, or
/// idle) so a new client gets in at once instead of waiting for a timeout.
final class ConnectionTable: Sendable {
    let cap: Int
    let logger: Logger

    private struct State {
        var open = 0
        /// Connections accepted beyond the limit for which none has been closed yet (the one to close may not be
        /// registered yet: pipelines are set up on their own event loops).
        var owed = 0
        var connections: [ObjectIdentifier: ConnectionActivity] = [:]
        var madeRoom = 0
        var lastWarning: UInt64 = 0
        /// The most connections open at once since free heap memory was last given back.
        var peakSinceRelease = 0
    }

    private let state = Mutex(State())

    init(cap: Int, logger: Logger) {
        self.cap = cap
        self.logger = logger
    }

    func register(_ activity: ConnectionActivity) {
        state.withLock { $0.connections[ObjectIdentifier(activity)] = activity }
        activity.channel.closeFuture.whenComplete { _ in
            self.state.withLock { _ = $0.connections.removeValue(forKey: ObjectIdentifier(activity)) }
        }
        makeRoom()
    }

    /// A connection was accepted (it is not registered yet: its pipeline is set up on its own event loop).
    func opened() {
        state.withLock { s in
            s.open += 1
            s.peakSinceRelease = max(s.peakSinceRelease, s.open)
            if s.open > cap { s.owed += 1 }
        }
        makeRoom()
    }

    func closed() {
        let release = state.withLock { s -> Bool in
            s.open -= 1
            // After a burst of connections has gone, give the heap pages they used back to the system: glibc keeps
            // them otherwise, and the core's RSS would stay at its high-water mark.
            guard s.open <= 8, s.peakSinceRelease >= 256 else { return false }
            s.peakSinceRelease = s.open
            return true
        }
        if release {
            // Once their tasks, buffers and pipelines are freed too, which follows their close by a moment.
            Thread.detachNewThread {
                Thread.sleep(forTimeInterval: 1)
                MallocArenas.releaseFreeMemory()
            }
        }
    }

    func isAccepting() -> Bool {
        state.withLock { s in
            s.open < cap || (s.open < cap + ConnectionLimits.acceptedBeyondLimit && Self.candidate(in: s.connections) != nil)
        }
    }

    /// For each connection accepted beyond the limit, closes the one longest without a complete request; none
    /// while all are being answered.
    private func makeRoom() {
        let (chosen, warn, total) = state.withLock { s -> ([ConnectionActivity], Bool, Int) in
            s.owed = min(s.owed, max(0, s.open - cap))
            var chosen: [ConnectionActivity] = []
            while s.owed > 0, let candidate = Self.candidate(in: s.connections) {
                let phase = candidate.phase
                // Lost a race with its own event loop (its request just completed): look again.
                guard phase == .receiving || phase == .idle, candidate.move(from: phase, to: .closing) else { continue }
                s.connections.removeValue(forKey: ObjectIdentifier(candidate))
                s.owed -= 1
                s.madeRoom += 1
                chosen.append(candidate)
            }
            guard !chosen.isEmpty else { return ([], false, s.madeRoom) }
            let now = NIODeadline.now().uptimeNanoseconds
            let warn = s.lastWarning == 0 || now - s.lastWarning > 10_000_000_000
            if warn { s.lastWarning = now }
            return (chosen, warn, s.madeRoom)
        }
        for activity in chosen {
            // On its own event loop: a request whose head arrived gets a 408 before the close.
            activity.channel.pipeline.fireUserInboundEventTriggered(ConnectionWatch.MakeRoom())
        }
        if warn {
            logger.warning("at the connection limit (\(cap)): closing the longest-stalled or idle connections to make room for new clients (\(total) so far)")
        }
    }

    /// The connection that has gone longest without a complete request: a head or body stalled since its first
    /// byte, or a connection idle since it was accepted or last answered. A request whose bytes are arriving now is
    /// the newest of all, so it is closed only when nothing older can be.
    private static func candidate(in connections: [ObjectIdentifier: ConnectionActivity]) -> ConnectionActivity? {
        var oldest: ConnectionActivity?
        for activity in connections.values {
            switch activity.phase {
            case .receiving, .idle:
                if oldest.map({ activity.since < $0.since }) ?? true { oldest = activity }
            case .answering, .closing:
                break
            }
        }
        return oldest
    }
}

/// Hummingbird's connection admission, over the table.
struct ConnectionAdmission: AvailableConnectionsDelegate {
    let table: ConnectionTable
    mutating func connectionOpened() { table.opened() }
    mutating func connectionClosed() { table.closed() }
    func isAcceptingNewConnections() -> Bool { table.isAccepting() }
}

/// Hummingbird's HTTP/1 child channel with the core's guards: a handler before the HTTP decoder that sees a
/// request's first byte, and one after it that sees the request end and writes the 408.
struct GuardedHTTP1Channel: ServerChildChannel {
    typealias Value = HTTP1Channel.Value

    let responder: HTTPChannelHandler.Responder
    let limits: ConnectionLimits
    let table: ConnectionTable

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        let activity = ConnectionActivity(channel: channel)
        let watch = ConnectionWatch(activity: activity, readTimeout: ConnectionLimits.timeAmount(limits.readTimeout))
        do {
            try channel.pipeline.syncOperations.addHandler(RequestArrivalHandler(watch: watch))
        } catch {
            return channel.eventLoop.makeFailedFuture(error)
        }
        table.register(activity)
        let bound = NIOLoopBound(watch, eventLoop: channel.eventLoop)
        let http1 = HTTP1Channel(responder: responder, configuration: HTTP1Channel.Configuration(
            additionalChannelHandlers: [ConnectionGuardHandler(watch: bound.value)],
            idleTimeout: ConnectionLimits.timeAmount(limits.idleTimeout)))
        return http1.setup(channel: channel, logger: logger)
    }

    func handle(value: Value, logger: Logger) async {
        await HTTP1Channel(responder: responder).handle(value: value, logger: logger)
    }
}

/// One connection's request deadline, shared by its two handlers, on its event loop.
final class ConnectionWatch {
    let activity: ConnectionActivity
    let readTimeout: TimeAmount?
    private var deadline: Scheduled<Void>?
    /// The head of the request under way was decoded (a timeout then answers 408 instead of just closing).
    var headArrived = false
    /// The handler after the decoder, which writes the 408.
    weak var responder: ConnectionGuardHandler?

    init(activity: ConnectionActivity, readTimeout: TimeAmount?) {
        self.activity = activity
        self.readTimeout = readTimeout
    }

    /// Bytes arrived; returns whether to pass them on (not once the connection is being closed).
    func bytesArrived(_ context: ChannelHandlerContext) -> Bool {
        switch activity.phase {
        case .idle:
            guard activity.move(from: .idle, to: .receiving) else { return false }
            arm(context.eventLoop)
            return true
        case .receiving, .answering:
            return true
        case .closing:
            return false
        }
    }

    /// The user event that asks a connection to close for room (sent by the table from another thread).
    struct MakeRoom: Sendable {}

    /// Chosen to be closed for room: a request whose head arrived is answered 408 first.
    func closeForRoom() {
        guard activity.channel.isActive else { return }
        disarm()
        if headArrived, let responder {
            responder.requestTimedOut(reason: "The core is at its connection limit and this request was the slowest "
                + "to arrive; the connection is closed.")
        } else {
            activity.channel.close(promise: nil)
        }
    }

    /// A head was decoded; a pipelined one may have arrived while the previous request was being answered.
    func headDecoded(_ eventLoop: any EventLoop) {
        headArrived = true
        if activity.phase == .idle { activity.move(from: .idle, to: .receiving) }
        if deadline == nil { arm(eventLoop) }
    }

    /// The request arrived whole; returns whether to hand its end to the responder (not once the connection was
    /// chosen to be closed).
    func requestComplete() -> Bool {
        disarm()
        headArrived = false
        let phase = activity.phase
        switch phase {
        case .closing: return false
        case .answering: return true
        case .idle, .receiving: return activity.move(from: phase, to: .answering) || activity.phase == .answering
        }
    }

    func responseComplete() {
        activity.move(from: .answering, to: .idle)
    }

    func closed() { disarm() }

    private func arm(_ eventLoop: any EventLoop) {
        disarm()
        guard let readTimeout else { return }
        let bound = NIOLoopBound(self, eventLoop: eventLoop)
        deadline = eventLoop.scheduleTask(in: readTimeout) { bound.value.timedOut() }
    }

    private func disarm() {
        deadline?.cancel()
        deadline = nil
    }

    private func timedOut() {
        deadline = nil
        guard activity.channel.isActive else { return }
        if headArrived, let responder {
            responder.requestTimedOut(reason: "The request body did not arrive in time; the connection is closed.")
        } else {
            activity.move(from: activity.phase, to: .closing)
            activity.channel.close(promise: nil)
        }
    }
}

/// First in the pipeline, on raw bytes: marks the start of each request (its first byte) for the read deadline
/// and the connection table, and drops what arrives on a connection chosen to be closed.
final class RequestArrivalHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    let watch: ConnectionWatch

    init(watch: ConnectionWatch) { self.watch = watch }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if watch.bytesArrived(context) { context.fireChannelRead(data) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        watch.closed()
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ConnectionWatch.MakeRoom {
            watch.closeForRoom()
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) { watch.closed() }
}

/// After the HTTP decoder: a request whose head came but whose body did not fully arrive within the read timeout
/// is answered 408 (an AWS-style JSON error) and the connection closed; any response marked `Connection: close`
/// closes the connection once written, instead of Hummingbird draining the rest of an oversized or abandoned body.
final class ConnectionGuardHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let watch: ConnectionWatch
    private var context: ChannelHandlerContext?
    private var responseStarted = false
    private var closeAfterResponse = false

    init(watch: ConnectionWatch) {
        self.watch = watch
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        watch.responder = self
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            responseStarted = false
            watch.headDecoded(context.eventLoop)
        case .end:
            // A connection chosen to be closed never hands a complete request to the engine.
            guard watch.requestComplete() else {
                context.close(promise: nil)
                return
            }
        case .body:
            break
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(let head):
            responseStarted = true
            if head.headerFields[.connection]?.lowercased().contains("close") == true { closeAfterResponse = true }
            context.write(data, promise: promise)
        case .body:
            context.write(data, promise: promise)
        case .end:
            watch.responseComplete()
            guard closeAfterResponse else {
                context.write(data, promise: promise)
                return
            }
            let written = context.eventLoop.makePromise(of: Void.self)
            written.futureResult.cascade(to: promise)
            context.writeAndFlush(data, promise: written)
            let channel = context.channel
            written.futureResult.whenComplete { _ in channel.close(promise: nil) }
        }
    }

    /// The read deadline passed (or room is needed) with the head in and the body not: 408, then close.
    func requestTimedOut(reason: String) {
        guard let context, context.channel.isActive else { return }
        watch.activity.move(from: watch.activity.phase, to: .closing)
        guard !responseStarted else {
            context.close(promise: nil)
            return
        }
        responseStarted = true
        let body = WireCodec.encodeError(KMSError(.serialization, reason))
        var fields = HTTPFields()
        fields[.contentType] = WireCodec.contentType
        fields[.contentLength] = String(body.count)
        fields[.connection] = "close"
        context.write(wrapOutboundOut(.head(HTTPResponse(status: .requestTimeout, headerFields: fields))), promise: nil)
        context.write(wrapOutboundOut(.body(ByteBuffer(bytes: body))), promise: nil)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in Self.lingeringClose(channel) }
    }

    /// Closes after an answer the client may still be sending into: the sending side first (the client reads the
    /// answer, then end of stream), what still arrives is dropped, and the connection is closed when the client
    /// closes or a second later. Closing at once with unread bytes would reset the connection, and a reset can
    /// discard the answer before the client reads it.
    static func lingeringClose(_ channel: any Channel) {
        let outputClosed = channel.eventLoop.makePromise(of: Void.self)
        channel.close(mode: .output, promise: outputClosed)
        outputClosed.futureResult.whenComplete { result in
            guard case .success = result else { channel.close(promise: nil); return }
            channel.eventLoop.scheduleTask(in: .seconds(1)) { channel.close(promise: nil) }
        }
    }
}
