import NIOCore
import Testing
@testable import WebSocketCore

@Suite("The control-frame token bucket")
struct ControlFrameLimiterTests {
    let start = NIODeadline.uptimeNanoseconds(1_000_000_000)

    @Test func aBurstOfRateThenDropsThenClose() {
        var limiter = ControlFrameLimiter(rate: 5, now: self.start)
        for _ in 0..<5 { #expect(limiter.frameArrived(rate: 5, now: self.start) == .allow) }
        for _ in 0..<5 { #expect(limiter.frameArrived(rate: 5, now: self.start) == .drop) }
        #expect(limiter.frameArrived(rate: 5, now: self.start) == .close)
    }

    @Test func refillsAtTheRateUpToTheBurst() {
        var limiter = ControlFrameLimiter(rate: 4, now: self.start)
        for _ in 0..<4 { #expect(limiter.frameArrived(rate: 4, now: self.start) == .allow) }
        #expect(limiter.frameArrived(rate: 4, now: self.start) == .drop)
        let later = self.start + .milliseconds(250)
        #expect(limiter.frameArrived(rate: 4, now: later) == .allow)
        #expect(limiter.frameArrived(rate: 4, now: later) == .drop)
        let muchLater = later + .seconds(60)
        for _ in 0..<4 { #expect(limiter.frameArrived(rate: 4, now: muchLater) == .allow) }
        #expect(limiter.frameArrived(rate: 4, now: muchLater) == .drop)
    }

    @Test func anAllowedFrameResetsTheDroppedRun() {
        var limiter = ControlFrameLimiter(rate: 2, now: self.start)
        _ = limiter.frameArrived(rate: 2, now: self.start)
        _ = limiter.frameArrived(rate: 2, now: self.start)
        #expect(limiter.frameArrived(rate: 2, now: self.start) == .drop)
        #expect(limiter.frameArrived(rate: 2, now: self.start) == .drop)
        #expect(limiter.frameArrived(rate: 2, now: self.start + .milliseconds(500)) == .allow)
        #expect(limiter.frameArrived(rate: 2, now: self.start + .milliseconds(500)) == .drop)
        #expect(limiter.frameArrived(rate: 2, now: self.start + .milliseconds(500)) == .drop)
        #expect(limiter.frameArrived(rate: 2, now: self.start + .milliseconds(500)) == .close)
    }

    @Test func zeroIsUnlimited() {
        var limiter = ControlFrameLimiter(rate: 0, now: self.start)
        for _ in 0..<1_000 { #expect(limiter.frameArrived(rate: 0, now: self.start) == .allow) }
    }
}
