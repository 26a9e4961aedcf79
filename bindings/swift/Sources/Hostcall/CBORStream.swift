// The streaming side of the CBOR codec: `CBORReader` decodes values
// straight from the bytes and `CBORWriter` encodes them straight into a
// buffer, with no `CBOR` tree in between. Building the tree cost about
// 1.6 µs per `Session` of a reply here; the generated records, lists,
// optionals and scalars read and write this way, and anything else (error
// types) goes through the tree by the protocol's defaults. The tree codec
// in CBOR.swift stays the reference (it shares only the byte-level
// primitives: heads, arguments, lengths, scalars): the tests check both
// agree.
//
// A reader reads what the tree decoder accepts: definite lengths, tags
// skipped, half, single and double floats, integers range-checked, text
// validated as UTF-8, unknown map keys skipped.

/// Decodes CBOR items one after another from a byte array.
public struct CBORReader {
    @usableFromInline let bytes: [UInt8]
    @usableFromInline var at = 0
    @usableFromInline var depth = 0

    public init(_ bytes: [UInt8]) { self.bytes = bytes }

    /// Whether every byte was read.
    public var atEnd: Bool { at == bytes.count }

    /// Decodes a whole payload as one `T`; an empty payload reads as null
    /// (a unit result, or a missing optional).
    public static func decode<T: CBORCodable>(_ bytes: [UInt8], as _: T.Type = T.self) throws -> T {
        if bytes.isEmpty { return try T(cbor: .null) }
        var reader = CBORReader(bytes)
        let value = try T(from: &reader)
        guard reader.atEnd else { throw DecodingError("trailing bytes") }
        return value
    }

    @inlinable mutating func byte() throws -> UInt8 {
        guard at < bytes.count else { throw DecodingError("unexpected end") }
        defer { at += 1 }
        return bytes[at]
    }

    @inlinable func peek() throws -> UInt8 {
        guard at < bytes.count else { throw DecodingError("unexpected end") }
        return bytes[at]
    }

    mutating func uint(_ n: Int) throws -> UInt64 {
        guard n <= bytes.count - at else { throw DecodingError("unexpected end") }
        var v: UInt64 = 0
        for i in 0..<n { v = (v << 8) | UInt64(bytes[at + i]) }
        at += n
        return v
    }

    mutating func argument(_ info: UInt8) throws -> UInt64 {
        switch info {
        case 0..<24: return UInt64(info)
        case 24: return try uint(1)
        case 25: return try uint(2)
        case 26: return try uint(4)
        case 27: return try uint(8)
        default: throw DecodingError("unsupported additional info \(info)")
        }
    }

    /// The next item's major type and argument, tags skipped.
    mutating func head() throws -> (major: UInt8, argument: UInt64) {
        while true {
            let first = try byte()
            let major = first >> 5
            let value = try argument(first & 0x1f)
            if major != 6 { return (major, value) }
        }
    }

    /// A length that cannot exceed what is left (each item takes a byte).
    mutating func count(_ n: UInt64) throws -> Int {
        guard n <= UInt64(bytes.count - at) else { throw DecodingError("unexpected end") }
        return Int(n)
    }

    /// The byte range of the `n` bytes that follow, consumed.
    mutating func content(_ n: UInt64) throws -> Range<Int> {
        let len = try count(n)
        defer { at += len }
        return at..<at + len
    }

    /// The byte range of a text or byte string's content, consumed.
    mutating func string(major: UInt8) throws -> Range<Int> {
        let (m, n) = try head()
        guard m == major else { throw DecodingError(major == 3 ? "expected text" : "expected bytes") }
        return try content(n)
    }

    public mutating func text() throws -> String {
        let range = try string(major: 3)
        let utf8 = bytes[range]
        // ASCII needs no validation (and validating costs more than the
        // rest of a short string's decode).
        if utf8.allSatisfy({ $0 < 0x80 }) { return String(decoding: utf8, as: UTF8.self) }
        guard let s = String(validating: utf8, as: UTF8.self) else { throw DecodingError("invalid UTF-8 text") }
        return s
    }

    public mutating func byteString() throws -> [UInt8] { Array(bytes[try string(major: 2)]) }

    /// An array's length; its items follow.
    public mutating func arrayCount() throws -> Int {
        let (m, n) = try head()
        guard m == 4 else { throw DecodingError("expected an array") }
        return try count(n)
    }

    /// A map's length; its pairs follow.
    public mutating func mapCount() throws -> Int {
        let (m, n) = try head()
        guard m == 5 else { throw DecodingError("expected a map") }
        return try count(n)
    }

    /// A map key, consumed; compare it with `key(_:is:)`.
    public mutating func key() throws -> Range<Int> { try string(major: 3) }

    /// Whether the key read is `name`.
    public func key(_ key: Range<Int>, is name: StaticString) -> Bool {
        guard key.count == name.utf8CodeUnitCount else { return false }
        let expected = UnsafeBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount)
        return bytes[key].elementsEqual(expected)
    }

    /// Consumes a null if one is next.
    public mutating func null() throws -> Bool {
        let b = try peek()
        if b == 0xf6 || b == 0xf7 {
            at += 1
            return true
        }
        return false
    }

    public mutating func bool() throws -> Bool {
        switch try byte() {
        case 0xf4: return false
        case 0xf5: return true
        default: throw DecodingError("expected bool")
        }
    }

    /// An integer of any width, range-checked.
    public mutating func integer<T: FixedWidthInteger>(_: T.Type = T.self) throws -> T {
        let (m, n) = try head()
        switch m {
        case 0:
            guard let v = T(exactly: n) else { throw DecodingError("\(n) is out of range of \(T.self)") }
            return v
        case 1:
            guard n <= UInt64(Int64.max), let v = T(exactly: -1 - Int64(n)) else {
                throw DecodingError("-1-\(n) is out of range of \(T.self)")
            }
            return v
        default: throw DecodingError("expected an integer")
        }
    }

    public mutating func double() throws -> Double {
        let first = try peek()
        switch first {
        case 0xf9: at += 1; return Double(Float16Bits.decode(UInt16(try uint(2))))
        case 0xfa: at += 1; return Double(Float(bitPattern: UInt32(try uint(4))))
        case 0xfb: at += 1; return Double(bitPattern: try uint(8))
        default:
            let (m, n) = try head()
            switch m {
            case 0: return Double(n)
            case 1: return -1 - Double(n)
            default: throw DecodingError("expected a float")
            }
        }
    }

    /// The next item as a tree (what the streaming side does not decode itself).
    public mutating func item() throws -> CBOR { try tree(depth: depth) }

    /// Skips one item (an unknown map key's value).
    public mutating func skip() throws {
        guard depth < 256 else { throw DecodingError("nested too deeply") }
        let first = try peek()
        if first >> 5 == 7 {
            at += 1
            switch first & 0x1f {
            case 20...23: return
            case 25: at += 2
            case 26: at += 4
            case 27: at += 8
            default: throw DecodingError("unsupported simple value \(first & 0x1f)")
            }
            guard at <= bytes.count else { throw DecodingError("unexpected end") }
            return
        }
        let (m, n) = try head()
        depth += 1
        defer { depth -= 1 }
        switch m {
        case 0, 1: return
        case 2, 3: at += try count(n)
        case 4: for _ in 0..<(try count(n)) { try skip() }
        default: for _ in 0..<(try count(n)) { try skip(); try skip() }
        }
    }
}

/// Encodes CBOR items one after another into a byte array.
public struct CBORWriter {
    public var bytes: [UInt8] = []

    public init(capacity: Int = 64) { bytes.reserveCapacity(capacity) }

    /// The whole payload of one value.
    public static func encode<T: CBORCodable>(_ value: T) -> [UInt8] {
        var w = CBORWriter()
        value.write(to: &w)
        return w.bytes
    }

    @inlinable public mutating func head(_ major: UInt8, _ value: UInt64) {
        let m = major << 5
        switch value {
        case 0..<24: bytes.append(m | UInt8(value))
        case 24...0xff: bytes.append(m | 24); bytes.append(UInt8(value))
        case 0x100...0xffff:
            bytes.append(m | 25)
            bytes.append(UInt8(truncatingIfNeeded: value >> 8))
            bytes.append(UInt8(truncatingIfNeeded: value))
        case 0x1_0000...0xffff_ffff:
            bytes.append(m | 26)
            for s in stride(from: 24, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: value >> UInt64(s))) }
        default:
            bytes.append(m | 27)
            for s in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: value >> UInt64(s))) }
        }
    }

    public mutating func text(_ s: String) {
        var s = s
        s.withUTF8 { utf8 in
            head(3, UInt64(utf8.count))
            bytes.append(contentsOf: utf8)
        }
    }

    /// A map key known at compile time.
    public mutating func key(_ name: StaticString) {
        head(3, UInt64(name.utf8CodeUnitCount))
        bytes.append(contentsOf: UnsafeBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount))
    }

    public mutating func byteString(_ b: [UInt8]) {
        head(2, UInt64(b.count))
        bytes.append(contentsOf: b)
    }

    public mutating func arrayHeader(_ n: Int) { head(4, UInt64(n)) }
    public mutating func mapHeader(_ n: Int) { head(5, UInt64(n)) }
    public mutating func null() { bytes.append(0xf6) }
    public mutating func bool(_ b: Bool) { bytes.append(b ? 0xf5 : 0xf4) }

    public mutating func integer<T: FixedWidthInteger>(_ v: T) {
        if v < 0 { head(1, UInt64(-1 - Int64(v))) } else { head(0, UInt64(v)) }
    }

    public mutating func double(_ d: Double) {
        bytes.append(0xfb)
        let bits = d.bitPattern
        for s in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: bits >> UInt64(s))) }
    }

    /// A tree, as the tree codec encodes it.
    public mutating func item(_ value: CBOR) { value.encode(to: &self) }
}

/// A field read from a map, or its absence: nil for an optional field,
/// otherwise an error naming it. Inlinable, as `read` below: unspecialized,
/// each call went through the type's metadata (5 % of decoding a reply of
/// sessions).
@inlinable
public func present<T: CBORCodable>(_ value: T?, _ name: String) throws -> T {
    if let value { return value }
    if let none = try? T(cbor: .null) { return none }
    throw DecodingError("missing field '\(name)'")
}

extension CBORCodable {
    /// By default through the tree; the generated types and the scalars
    /// read themselves.
    public init(from reader: inout CBORReader) throws { try self.init(cbor: reader.item()) }
    /// By default through the tree.
    public func write(to writer: inout CBORWriter) { writer.item(cbor) }
}

extension String {
    public init(from reader: inout CBORReader) throws { self = try reader.text() }
    public func write(to writer: inout CBORWriter) { writer.text(self) }
}

extension Bool {
    public init(from reader: inout CBORReader) throws { self = try reader.bool() }
    public func write(to writer: inout CBORWriter) { writer.bool(self) }
}

extension Double {
    public init(from reader: inout CBORReader) throws { self = try reader.double() }
    public func write(to writer: inout CBORWriter) { writer.double(self) }
}

extension Float {
    public init(from reader: inout CBORReader) throws { self = Float(try reader.double()) }
    public func write(to writer: inout CBORWriter) { writer.double(Double(self)) }
}

extension CBORCodable where Self: FixedWidthInteger {
    public init(from reader: inout CBORReader) throws { self = try reader.integer() }
    public func write(to writer: inout CBORWriter) { writer.integer(self) }
}

extension Bytes {
    public init(from reader: inout CBORReader) throws { self.init(try reader.byteString()) }
    public func write(to writer: inout CBORWriter) { writer.byteString(bytes) }
}

extension Array where Element: CBORCodable {
    public init(from reader: inout CBORReader) throws {
        let n = try reader.arrayCount()
        var items: [Element] = []
        items.reserveCapacity(n)
        for _ in 0..<n { items.append(try Element(from: &reader)) }
        self = items
    }
    public func write(to writer: inout CBORWriter) {
        writer.arrayHeader(count)
        for item in self { item.write(to: &writer) }
    }
}

extension Optional where Wrapped: CBORCodable {
    public init(from reader: inout CBORReader) throws {
        self = try reader.null() ? .none : .some(try Wrapped(from: &reader))
    }
    public func write(to writer: inout CBORWriter) {
        switch self {
        case .none: writer.null()
        case .some(let v): v.write(to: &writer)
        }
    }
}

extension CBORReader {
    /// The next item as a `T`.
    @inlinable public mutating func read<T: CBORCodable>(_: T.Type) throws -> T { try T(from: &self) }
}
