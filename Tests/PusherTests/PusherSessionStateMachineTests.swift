import NIOCore
import Testing

@testable import PusherProtocol

@Suite("Pusher session state machine")
struct PusherSessionStateMachineTests {
    typealias Machine = PusherSessionStateMachine

    /// Activity timeout 120 s, pong timeout 30 s, 3 messages may wait.
    static let configuration = Machine.Configuration(
        activityTimeout: .seconds(120), pongTimeout: .seconds(30), signinTimeout: nil, waitingLimit: 3
    )

    /// `seconds` after an arbitrary origin.
    static func at(_ seconds: Double) -> NIODeadline {
        .uptimeNanoseconds(1_000_000_000_000 + UInt64(seconds * 1e9))
    }

    static func message(_ text: String, isText: Bool = true) -> Machine.Inbound {
        Machine.Inbound(message: ByteBuffer(string: text), isText: isText)
    }

    /// A machine admitted at 0 s.
    static func open(_ configuration: Machine.Configuration = configuration) -> Machine {
        var machine = Machine(configuration: configuration)
        _ = machine.admitted(now: at(0))
        return machine
    }

    // MARK: Admission

    @Test("messages wait while the connection is admitted; admitted arms the activity deadline and hands them out in order")
    func admission() {
        var machine = Machine(configuration: Self.configuration)
        #expect(machine.phase == .admitting)
        #expect(machine.received(Self.message("a"), now: Self.at(0)) == .none)
        #expect(machine.received(Self.message("b"), now: Self.at(0)) == .none)
        #expect(machine.nextWaiting() == nil)  // not open yet
        #expect(machine.admitted(now: Self.at(1)) == .arm(Self.at(121)))
        #expect(machine.phase == .open)
        #expect(machine.armedFor == Self.at(121))
        #expect(machine.nextWaiting() == Self.message("a"))
        #expect(machine.nextWaiting() == Self.message("b"))
        #expect(machine.nextWaiting() == nil)
        #expect(machine.received(Self.message("c"), now: Self.at(2)) == .handle(Self.message("c")))
        // Admitted once.
        #expect(machine.admitted(now: Self.at(3)) == .none)
    }

    @Test("a refusal during admission closes with its code; the late admission and later messages are ignored")
    func refusal() {
        var machine = Machine(configuration: Self.configuration)
        _ = machine.received(Self.message("a"), now: Self.at(0))
        #expect(machine.serverCloses(.overQuota) == .close(.overQuota))
        #expect(machine.phase == .closing)
        #expect(machine.waiting.isEmpty)
        #expect(machine.admitted(now: Self.at(1)) == .none)
        #expect(machine.received(Self.message("b"), now: Self.at(1)) == .none)
        #expect(machine.nextWaiting() == nil)
        #expect(machine.closed() == .none)  // no timer was ever armed
        #expect(machine.phase == .closed)
    }

    // MARK: Activity

    @Test("silence for activity_timeout: ping, then the pong timeout closes with 4201")
    func silentClient() {
        var machine = Self.open()
        #expect(machine.timerFired(now: Self.at(120)) == .ping(armAt: Self.at(150)))
        #expect(machine.pingedAt == Self.at(120))
        #expect(machine.timerFired(now: Self.at(150)) == .close(.pongTimeout))
        #expect(machine.phase == .closing)
        #expect(machine.armedFor == nil)
    }

    @Test("any message answers the ping; the next ping comes activity_timeout after the last message")
    func answeringClient() {
        var machine = Self.open()
        #expect(machine.timerFired(now: Self.at(120)) == .ping(armAt: Self.at(150)))
        #expect(machine.received(Self.message(#"{"event":"pusher:pong"}"#), now: Self.at(121)) == .handle(Self.message(#"{"event":"pusher:pong"}"#)))
        #expect(machine.pingedAt == nil)
        // The pending timer fires at the pong deadline and finds the client active: re-armed.
        #expect(machine.timerFired(now: Self.at(150)) == .arm(Self.at(241)))
        #expect(machine.timerFired(now: Self.at(241)) == .ping(armAt: Self.at(271)))
    }

    @Test("messages move the activity deadline without re-arming: an early timer re-arms for the deadline due then")
    func messagesDoNotRearm() {
        var machine = Self.open()
        #expect(machine.armedFor == Self.at(120))
        for second in stride(from: 10.0, through: 100, by: 10) {
            #expect(machine.received(Self.message("m"), now: Self.at(second)) == .handle(Self.message("m")))
            #expect(machine.armedFor == Self.at(120))
        }
        #expect(machine.timerFired(now: Self.at(120)) == .arm(Self.at(220)))
        #expect(machine.timerFired(now: Self.at(220)) == .ping(armAt: Self.at(250)))
    }

    @Test("a message that waits behind a command counts as activity when it arrives")
    func waitingMessageIsActivity() {
        var machine = Self.open()
        machine.commandStarted()
        #expect(machine.received(Self.message("m"), now: Self.at(119)) == .none)
        #expect(machine.timerFired(now: Self.at(120)) == .arm(Self.at(239)))
    }

    // MARK: Sign-in

    @Test("requireSignin: not signed in by the deadline closes with 4009; the deadline comes before the activity one")
    func signinDeadline() {
        var machine = Machine(configuration: Self.configuration)
        machine.requireSignin(within: 2.5)
        #expect(machine.admitted(now: Self.at(0)) == .arm(Self.at(2.5)))
        #expect(machine.timerFired(now: Self.at(2.5)) == .close(.signinTimeout(2.5)))
        #expect(PusherClose.signinTimeout(2.5).code == 4009)
    }

    @Test("requireSignin: signed in in time, the early timer re-arms for the activity deadline")
    func signedInInTime() {
        var machine = Machine(configuration: Self.configuration)
        machine.requireSignin(within: 30)
        #expect(machine.admitted(now: Self.at(0)) == .arm(Self.at(30)))
        machine.signedIn()
        #expect(machine.signinDeadline == nil)
        #expect(machine.timerFired(now: Self.at(30)) == .arm(Self.at(120)))
    }

    @Test("a pong deadline earlier than the sign-in deadline is the one armed")
    func earliestDeadline() {
        var configuration = Self.configuration
        configuration.activityTimeout = .seconds(1)
        configuration.pongTimeout = .seconds(2)
        var machine = Machine(configuration: configuration)
        machine.requireSignin(within: 10)
        #expect(machine.admitted(now: Self.at(0)) == .arm(Self.at(1)))
        #expect(machine.timerFired(now: Self.at(1)) == .ping(armAt: Self.at(3)))
        #expect(machine.timerFired(now: Self.at(3)) == .close(.pongTimeout))
    }

    // MARK: Commands

    @Test("while a command waits, messages wait in order; past the limit the client is closed (4301)")
    func waitingLimit() {
        var machine = Self.open()
        machine.commandStarted()
        for index in 0..<3 {
            #expect(machine.received(Self.message("\(index)"), now: Self.at(1)) == .none)
        }
        #expect(machine.nextWaiting() == nil)  // still busy
        #expect(machine.received(Self.message("3"), now: Self.at(1)) == .close(.tooManyWaiting))
        #expect(PusherClose.tooManyWaiting.code == 4301)
        #expect(machine.waiting.isEmpty)
        machine.commandEnded()
        #expect(machine.nextWaiting() == nil)  // closing: nothing more is handled
    }

    @Test("a command's end hands out what waited, until a message starts another command")
    func commandEnded() {
        var machine = Self.open()
        machine.commandStarted()
        for text in ["a", "b", "c"] { _ = machine.received(Self.message(text), now: Self.at(1)) }
        machine.commandEnded()
        #expect(machine.nextWaiting() == Self.message("a"))
        machine.commandStarted()  // "a" waits for the broker
        #expect(machine.nextWaiting() == nil)
        #expect(machine.received(Self.message("d"), now: Self.at(2)) == .none)
        machine.commandEnded()
        #expect(machine.nextWaiting() == Self.message("b"))
        #expect(machine.nextWaiting() == Self.message("c"))
        #expect(machine.nextWaiting() == Self.message("d"))
        #expect(machine.nextWaiting() == nil)
        #expect(machine.received(Self.message("e"), now: Self.at(3)) == .handle(Self.message("e")))
    }

    // MARK: Ending

    @Test("a kick closes with its code; the first ending wins, and a drain after it does nothing")
    func kickThenDrain() {
        var machine = Self.open()
        #expect(machine.serverCloses(.terminated) == .close(.terminated))
        #expect(machine.drained() == .none)
        #expect(machine.serverCloses(.rateLimited) == .none)
        #expect(machine.received(Self.message("late"), now: Self.at(1)) == .none)
        // The pending timer finds the connection closing.
        #expect(machine.timerFired(now: Self.at(120)) == .none)
        #expect(machine.closed() == .none)
    }

    @Test("the drain: 4200 then 1012, once; the pending timer is cancelled when the socket closes")
    func drain() {
        var machine = Self.open()
        machine.commandStarted()
        _ = machine.received(Self.message("waiting"), now: Self.at(1))
        #expect(machine.drained() == .drain)
        #expect(machine.drained() == .none)
        #expect(machine.waiting.isEmpty)
        machine.commandEnded()
        #expect(machine.nextWaiting() == nil)
        #expect(machine.closed() == .cancelTimer)
        #expect(machine.closed() == .none)
    }

    @Test("a drain while the connection is admitted ends it before connection_established")
    func drainWhileAdmitting() {
        var machine = Machine(configuration: Self.configuration)
        #expect(machine.drained() == .drain)
        #expect(machine.admitted(now: Self.at(0)) == .none)
    }

    @Test("the client leaving cancels the timer and forgets what waited")
    func clientLeaves() {
        var machine = Self.open()
        machine.commandStarted()
        _ = machine.received(Self.message("a"), now: Self.at(1))
        #expect(machine.closed() == .cancelTimer)
        #expect(machine.waiting.isEmpty)
        #expect(machine.received(Self.message("b"), now: Self.at(2)) == .none)
        #expect(machine.timerFired(now: Self.at(120)) == .none)
        #expect(machine.serverCloses(.terminated) == .none)
        #expect(machine.drained() == .none)
    }
}
