// A small CBOR codec: what the hostcall wire uses (RFC 8949 major types 0-5
// and 7), enough for records, lists, optionals, scalars and error types.
// Hand-written; no package dependencies.

/// One CBOR data item.
public indirect enum CBOR: Sendable, Equatable {
    case unsigned(UInt64)
    /// A negative integer `-1 - n`.
    case negative(UInt64)
    case bytes([UInt8])
    case text(String)
    case array([CBOR])
    /// A map, in wire order.
    case map([CBORPair])
    case bool(Bool)
    case null
    case double(Double)

    /// The value of key `key` of a map.
    public subscript(key: String) -> CBOR? {
        guard case .map(let pairs) = self else { return nil }
        return pairs.first { $0.key == .text(key) }?.value
    }
}

/// A map entry.
public struct CBORPair: Sendable, Equatable {
    public let key: CBOR
    public let value: CBOR
    public init(_ key: CBOR, _ value: CBOR) {
        self.key = key
        self.value = value
    }
}

/// A value that does not decode as the type the binding expected.
public struct DecodingError: Error, Equatable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { "malformed CBOR: \(message)" }
}

extension CBOR {
    /// The encoded bytes.
    public func encoded() -> [UInt8] {
        var w = CBORWriter()
        encode(to: &w)
        return w.bytes
    }

    /// Appends the encoded item (on the writer's heads, as the streaming
    /// side writes them).
    public func encode(to w: inout CBORWriter) {
        switch self {
        case .unsigned(let v): w.head(0, v)
        case .negative(let v): w.head(1, v)
        case .bytes(let b): w.byteString(b)
        case .text(let s): w.text(s)
        case .array(let items):
            w.arrayHeader(items.count)
            for item in items { item.encode(to: &w) }
        case .map(let pairs):
            w.mapHeader(pairs.count)
            for pair in pairs {
                pair.key.encode(to: &w)
                pair.value.encode(to: &w)
            }
        case .bool(let b): w.bool(b)
        case .null: w.null()
        case .double(let d): w.double(d)
        }
    }

    /// Decodes exactly one item from `bytes`; an empty payload reads as null.
    public static func decode(_ bytes: [UInt8]) throws -> CBOR {
        if bytes.isEmpty { return .null }
        var reader = CBORReader(bytes)
        let item = try reader.tree(depth: 0)
        guard reader.atEnd else { throw DecodingError("trailing bytes") }
        return item
    }
}

extension CBORReader {
    /// The next item as a tree (the tree codec's decoder, on the reader's
    /// byte-level primitives).
    mutating func tree(depth: Int) throws -> CBOR {
        guard depth < 256 else { throw DecodingError("nested too deeply") }
        let first = try byte()
        let major = first >> 5
        let info = first & 0x1f
        switch major {
        case 0: return .unsigned(try argument(info))
        case 1: return .negative(try argument(info))
        case 2: return .bytes(Array(bytes[try content(argument(info))]))
        case 3:
            guard let s = String(validating: bytes[try content(argument(info))], as: UTF8.self) else {
                throw DecodingError("invalid UTF-8 text")
            }
            return .text(s)
        case 4:
            let n = try count(argument(info))
            var items: [CBOR] = []
            for _ in 0..<n { items.append(try tree(depth: depth + 1)) }
            return .array(items)
        case 5:
            let n = try count(argument(info))
            var pairs: [CBORPair] = []
            for _ in 0..<n {
                let k = try tree(depth: depth + 1)
                pairs.append(CBORPair(k, try tree(depth: depth + 1)))
            }
            return .map(pairs)
        case 6:
            _ = try argument(info)
            return try tree(depth: depth + 1)  // tags are ignored
        default:
            switch info {
            case 20: return .bool(false)
            case 21: return .bool(true)
            case 22, 23: return .null
            case 25: return .double(Double(Float16Bits.decode(UInt16(try uint(2)))))
            case 26: return .double(Double(Float(bitPattern: UInt32(try uint(4)))))
            case 27: return .double(Double(bitPattern: try uint(8)))
            default: throw DecodingError("unsupported simple value \(info)")
            }
        }
    }
}

/// Half-precision floats without relying on `Float16` (absent on some targets).
enum Float16Bits {
    static func decode(_ h: UInt16) -> Float {
        let sign: Float = (h & 0x8000) != 0 ? -1 : 1
        let exp = Int((h >> 10) & 0x1f)
        let frac = Float(h & 0x3ff)
        if exp == 0 { return sign * frac * 0x1p-24 }
        if exp == 31 { return frac == 0 ? sign * .infinity : .nan }
        return sign * (1 + frac / 1024) * Float(sign: .plus, exponent: exp - 15, significand: 1)
    }
}

/// A type with a CBOR form: as a tree (`init(cbor:)`, `cbor`), and read
/// or written in place (`init(from:)`, `write(to:)`; CBORStream.swift).
public protocol CBORCodable: Sendable {
    init(cbor: CBOR) throws
    var cbor: CBOR { get }
    init(from reader: inout CBORReader) throws
    func write(to writer: inout CBORWriter)
}

extension String: CBORCodable {
    public init(cbor: CBOR) throws {
        guard case .text(let s) = cbor else { throw DecodingError("expected text, got \(cbor)") }
        self = s
    }
    public var cbor: CBOR { .text(self) }
}

extension Bool: CBORCodable {
    public init(cbor: CBOR) throws {
        guard case .bool(let b) = cbor else { throw DecodingError("expected bool, got \(cbor)") }
        self = b
    }
    public var cbor: CBOR { .bool(self) }
}

extension Double: CBORCodable {
    public init(cbor: CBOR) throws {
        switch cbor {
        case .double(let d): self = d
        case .unsigned(let u): self = Double(u)
        case .negative(let n): self = -1 - Double(n)
        default: throw DecodingError("expected a float, got \(cbor)")
        }
    }
    public var cbor: CBOR { .double(self) }
}

extension Float: CBORCodable {
    public init(cbor: CBOR) throws { self = Float(try Double(cbor: cbor)) }
    public var cbor: CBOR { .double(Double(self)) }
}

/// Integers of every width, range-checked on decode.
extension CBORCodable where Self: FixedWidthInteger {
    public init(cbor: CBOR) throws {
        switch cbor {
        case .unsigned(let u):
            guard let v = Self(exactly: u) else { throw DecodingError("\(u) is out of range of \(Self.self)") }
            self = v
        case .negative(let n):
            guard n <= UInt64(Int64.max), let v = Self(exactly: -1 - Int64(n)) else {
                throw DecodingError("-1-\(n) is out of range of \(Self.self)")
            }
            self = v
        default: throw DecodingError("expected an integer, got \(cbor)")
        }
    }
    public var cbor: CBOR {
        self < 0 ? .negative(UInt64(-1 - Int64(self))) : .unsigned(UInt64(self))
    }
}

extension Int8: CBORCodable {}
extension Int16: CBORCodable {}
extension Int32: CBORCodable {}
extension Int64: CBORCodable {}
extension UInt8: CBORCodable {}
extension UInt16: CBORCodable {}
extension UInt32: CBORCodable {}
extension UInt64: CBORCodable {}

/// A byte string (`hostcall::Bytes`), distinct from a list of `UInt8`.
public struct Bytes: CBORCodable, Equatable {
    public var bytes: [UInt8]
    public init(_ bytes: [UInt8]) { self.bytes = bytes }
    public init(cbor: CBOR) throws {
        guard case .bytes(let b) = cbor else { throw DecodingError("expected bytes, got \(cbor)") }
        bytes = b
    }
    public var cbor: CBOR { .bytes(bytes) }
}

extension Array: CBORCodable where Element: CBORCodable {
    public init(cbor: CBOR) throws {
        guard case .array(let items) = cbor else { throw DecodingError("expected an array, got \(cbor)") }
        self = try items.map { try Element(cbor: $0) }
    }
    public var cbor: CBOR { .array(map { $0.cbor }) }
}

extension Optional: CBORCodable where Wrapped: CBORCodable {
    public init(cbor: CBOR) throws {
        if cbor == .null { self = .none } else { self = .some(try Wrapped(cbor: cbor)) }
    }
    public var cbor: CBOR {
        switch self {
        case .none: .null
        case .some(let v): v.cbor
        }
    }
}

/// A map's field `key`, decoded.
public func field<T: CBORCodable>(_ map: CBOR, _ key: String) throws -> T {
    guard case .map = map else { throw DecodingError("expected a map, got \(map)") }
    guard let value = map[key] else {
        if let none = try? T(cbor: .null) { return none }
        throw DecodingError("missing field '\(key)'")
    }
    return try T(cbor: value)
}

/// Element `index` of an array, decoded.
public func element<T: CBORCodable>(_ array: CBOR, _ index: Int) throws -> T {
    guard case .array(let items) = array, index < items.count else {
        throw DecodingError("expected an array of at least \(index + 1) items, got \(array)")
    }
    return try T(cbor: items[index])
}
