import Foundation
import TensorBoard
import TestSupport
import XCTest

final class EventFileTests: XCTestCase {
    /// Published CRC-32C check values (the "123456789" check and RFC 3720's iSCSI test patterns).
    func testCRC32CKnownVectors() {
        XCTAssertEqual(CRC32C.checksum([UInt8]()), 0)
        XCTAssertEqual(CRC32C.checksum(Array("123456789".utf8)), 0xE306_9283)
        XCTAssertEqual(CRC32C.checksum([UInt8](repeating: 0, count: 32)), 0x8A91_36AA)
        XCTAssertEqual(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)), 0x62A8_AB43)
        XCTAssertEqual(CRC32C.checksum((0..<32).map { UInt8($0) }), 0x46DD_794E)
        XCTAssertEqual(CRC32C.checksum((0..<32).reversed().map { UInt8($0) }), 0x113F_DB5C)
    }

    func testMaskedCRCAgreesWithTheIndependentBitwiseOne() {
        var generator = SystemRandomNumberGenerator()
        for count in [0, 1, 7, 8, 100, 1000] {
            let bytes = (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
            XCTAssertEqual(CRC32C.masked(bytes), TFEventReader.maskedCRC32C(bytes[...]), "\(count) bytes")
        }
    }

    private func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("tb-tests-\(UUID().uuidString)")
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }

    func testWrittenFileReadsBackWithTheIndependentDecoder() throws {
        let dir = try temporaryDirectory()
        var now = 1_700_000_000.25
        let writer = try EventFileWriter(directory: dir, fresh: true, clock: { now += 1; return now })
        XCTAssertTrue(writer.url.lastPathComponent.hasPrefix("events.out.tfevents.1700000001."), writer.url.lastPathComponent)
        try writer.add(scalars: [("loss", 4.25), ("acc_top1", 0.125)], step: 1)
        try writer.add(scalars: [("loss", -3.5e-7), ("lr", 0.3)], step: 1_000_000_000_000)
        try writer.add(scalars: [], step: 3)  // nothing to write: no event

        let events = try TFEventReader.events(at: writer.url)
        XCTAssertEqual(events.count, 3)
        XCTAssertEqual(events[0].fileVersion, "brain.Event:2")
        XCTAssertEqual(events[0].wallTime, 1_700_000_002.25)
        XCTAssertEqual(events[0].step, 0)
        XCTAssertEqual(events[1].scalars, ["loss": 4.25, "acc_top1": 0.125])
        XCTAssertEqual(events[1].step, 1)
        XCTAssertEqual(events[1].wallTime, 1_700_000_003.25)
        XCTAssertEqual(events[2].scalars, ["loss": Float(-3.5e-7), "lr": Float(0.3)])
        XCTAssertEqual(events[2].step, 1_000_000_000_000)
    }

    func testADamagedRecordIsDetected() throws {
        let dir = try temporaryDirectory()
        let writer = try EventFileWriter(directory: dir, fresh: true)
        try writer.add(scalars: [("loss", 1)], step: 1)
        var bytes = Array(try Data(contentsOf: writer.url))
        bytes[bytes.count - 6] ^= 0x01  // inside the last record's data
        XCTAssertThrowsError(try TFEventReader.records(bytes))
    }

    /// A fresh start removes earlier files; a resumed one adds a file that starts with SessionLog START, so a
    /// reader drops the old file's points from that step on.
    func testFreshStartAndResume() throws {
        let dir = try temporaryDirectory()
        var now = 100.0
        let clock = { now += 1; return now }
        let stale = try EventFileWriter(directory: dir, fresh: true, clock: clock)
        try stale.add(scalars: [("loss", 9)], step: 1)
        let first = try EventFileWriter(directory: dir, fresh: true, clock: clock)
        XCTAssertEqual(TFEventReader.eventFiles(in: dir), [first.url])
        for step in 1...5 { try first.add(scalars: [("loss", Double(step))], step: step) }
        // Same second: the second file gets a distinct name that sorts after the first.
        now -= 1
        let resumed = try EventFileWriter(directory: dir, fresh: false, resumingAtStep: 4, clock: clock)
        XCTAssertEqual(TFEventReader.eventFiles(in: dir), [first.url, resumed.url])
        for step in 4...6 { try resumed.add(scalars: [("loss", Double(step) + 0.5)], step: step) }
        let events = try TFEventReader.events(at: resumed.url)
        XCTAssertEqual(events[1].sessionStatus, 1)
        XCTAssertEqual(events[1].step, 4)
        XCTAssertEqual(try TFEventReader.curves(in: dir)["loss"], [1: 1, 2: 2, 3: 3, 4: 4.5, 5: 5.5, 6: 6.5])
    }
}
