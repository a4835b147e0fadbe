import Glibc
import LannerCore

/// An extractor with its context type erased (the generic `Ruleset` wraps the provider's typed ones), so
/// the interpreter below is not generic: no generic metadata on the hot path.
typealias ErasedExtractor = (AnyObject, EvalScratch) -> Void

/// One bytecode instruction: check / jump-if-false / jump-if-true / not / constant / end.
struct Instruction {
    enum Op: UInt8 { case check, jumpIfFalse, jumpIfTrue, not, constant, end }
    var op: Op
    var arg: Int32
}

/// A compiled check, plain data: its right side points into the engine's tables.
struct RuntimeCheck {
    enum RHS: UInt8 { case none, values, strings, paths, regex, field, domains }
    var slot: Int32
    var op: CheckOp
    /// 0 none, 1 oneof/anyof (any constant), 2 allof.
    var modifier: UInt8
    var isList: Bool
    var anyValue: Bool
    /// Either-end fields (fd.ip, fd.net, fd.port, fd.proto): `=`/`in` hold when either end matches,
    /// `!=` only when both ends differ (libsinsp's compare_ip / compare_net / compare_port).
    var eitherEnd: Bool
    var rhs: RHS
    /// values: start in `constants`; strings/paths/regex: index in their table; field: the slot;
    /// domains: start in `domainIDs` (and `slot` is the address field's).
    var a: Int32
    /// values, domains: count.
    var b: Int32
}

/// The interpreter and its tables. Built once per ruleset; evaluated per event with no allocation and no
/// reference counting on the path: tables are unsafe buffers owned here and freed in deinit.
final class RuleEngine {
    var code: UnsafeMutablePointer<Instruction>
    var codeCount = 0, codeCapacity = 256
    var checks: UnsafeMutablePointer<RuntimeCheck>
    var checkCount = 0, checkCapacity = 128
    var constants: UnsafeMutablePointer<FieldValue>
    var constantCount = 0, constantCapacity = 256
    var stringSets: [ByteStringSet] = []
    var pathSets: [PathPrefixSet] = []
    var regexes: [RegexBox] = []
    /// One per slot.
    var extractors: [ErasedExtractor] = []
    /// Per event type: [bucketStart[t], bucketStart[t+1]) in `bucketEntries`.
    var bucketStart: UnsafeMutablePointer<Int32>
    var bucketEntries: UnsafeMutablePointer<(rule: Int32, start: Int32)>
    var typeCount = 0
    let pool = ConstantPool()

    // Domain names (fd.*ip.name): the names `=`/`!=`/`in` checks compare, by id; each domain check's name ids;
    // and the current index of their addresses, replaced between events when `domainSource` publishes.
    var domainNames: [String] = []
    var domainNameIDs: [String: Int32] = [:]
    var domainNameBytes: [UnsafeRawBufferPointer] = []
    var domainIDs: UnsafeMutablePointer<Int32>
    var domainIDCount = 0, domainIDCapacity = 16
    var domainIndex = DomainIndex.empty()
    /// Held strongly here; read through `domainSourceRef` on the hot path (no reference counting).
    var domainSource: DomainNames?
    var domainSourceRef: Unmanaged<DomainNames>?
    var domainGeneration: UInt64 = .max

    init() {
        code = .allocate(capacity: codeCapacity)
        checks = .allocate(capacity: checkCapacity)
        constants = .allocate(capacity: constantCapacity)
        bucketStart = .allocate(capacity: 1)
        bucketStart[0] = 0
        bucketEntries = .allocate(capacity: 1)
        domainIDs = .allocate(capacity: domainIDCapacity)
    }

    deinit {
        code.deallocate()
        checks.deallocate()
        constants.deallocate()
        bucketStart.deallocate()
        bucketEntries.deallocate()
        for s in stringSets { s.deallocate() }
        domainIDs.deallocate()
        domainIndex.deallocate()
    }

    // MARK: - Building

    func appendInstruction(_ i: Instruction) -> Int {
        Self.reserve(&code, count: codeCount, capacity: &codeCapacity, needed: codeCount + 1)
        code[codeCount] = i
        codeCount += 1
        return codeCount - 1
    }

    func appendCheck(_ c: RuntimeCheck) -> Int32 {
        Self.reserve(&checks, count: checkCount, capacity: &checkCapacity, needed: checkCount + 1)
        checks[checkCount] = c
        checkCount += 1
        return Int32(checkCount - 1)
    }

    /// Makes room for `needed` elements in `buffer` (its first `count` initialised), doubling the capacity.
    private static func reserve<T>(_ buffer: inout UnsafeMutablePointer<T>, count: Int, capacity: inout Int, needed: Int) {
        guard needed > capacity else { return }
        var c = capacity
        while c < needed { c *= 2 }
        let n = UnsafeMutablePointer<T>.allocate(capacity: c)
        n.moveInitialize(from: buffer, count: count)
        buffer.deallocate()
        buffer = n
        capacity = c
    }

    func appendConstants(_ vs: [FieldValue]) -> Int32 {
        Self.reserve(&constants, count: constantCount, capacity: &constantCapacity, needed: constantCount + vs.count)
        let start = constantCount
        for (i, v) in vs.enumerated() { (constants + start + i).initialize(to: v) }
        constantCount += vs.count
        return Int32(start)
    }

    /// The id of domain name `bytes`, adding it on first use.
    func domainID(_ bytes: [UInt8]) -> Int32 {
        let name = String(decoding: bytes, as: UTF8.self)
        if let id = domainNameIDs[name] { return id }
        let id = Int32(domainNames.count)
        domainNameIDs[name] = id
        domainNames.append(name)
        domainNameBytes.append(pool.intern(bytes))
        return id
    }

    /// Appends a check's name ids; returns where they start.
    func appendDomainIDs(_ ids: [Int32]) -> Int32 {
        Self.reserve(&domainIDs, count: domainIDCount, capacity: &domainIDCapacity, needed: domainIDCount + ids.count)
        let start = domainIDCount
        for (i, id) in ids.enumerated() { domainIDs[start + i] = id }
        domainIDCount += ids.count
        return Int32(start)
    }

    /// Reads domain addresses from `source` from the next event on.
    func useDomains(_ source: DomainNames) {
        domainSource = source
        domainSourceRef = Unmanaged.passUnretained(source)
        domainGeneration = .max
    }

    /// Adopts the source's newest snapshot if it changed: one atomic load when it did not.
    @inline(__always)
    func syncDomains() {
        guard let ref = domainSourceRef else { return }
        let g = ref._withUnsafeGuaranteedRef { $0.generation }
        if g != domainGeneration { adoptDomains(ref.takeUnretainedValue()) }
    }

    @inline(never)
    func adoptDomains(_ source: DomainNames) {
        let snapshot = source.snapshot()
        let next = DomainIndex(names: domainNames, snapshot: snapshot)
        domainIndex.deallocate()
        domainIndex = next
        domainGeneration = snapshot.generation
    }

    func setBuckets(_ buckets: [[(rule: Int32, start: Int32)]]) {
        bucketStart.deallocate()
        bucketEntries.deallocate()
        typeCount = buckets.count
        bucketStart = .allocate(capacity: buckets.count + 1)
        let total = buckets.reduce(0) { $0 + $1.count }
        bucketEntries = .allocate(capacity: max(total, 1))
        var k = 0
        for (t, b) in buckets.enumerated() {
            bucketStart[t] = Int32(k)
            for e in b { bucketEntries[k] = e; k += 1 }
        }
        bucketStart[buckets.count] = Int32(k)
    }

    // MARK: - Evaluation

    @inline(__always)
    func candidates(_ eventType: Int) -> Range<Int> {
        guard eventType >= 0, eventType < typeCount else { return 0..<0 }
        return Int(bucketStart[eventType])..<Int(bucketStart[eventType + 1])
    }

    @inline(__always)
    func evaluate(_ ctx: AnyObject, eventType: Int, scratch: EvalScratch, first: Bool, _ onMatch: (Int) -> Void) {
        let range = candidates(eventType)
        if range.isEmpty { return }
        syncDomains()
        scratch.ensureSlots(extractors.count)
        scratch.ensureChecks(checkCount)
        for k in range {
            let e = bucketEntries[k]
            if run(Int(e.start), ctx, scratch) {
                onMatch(Int(e.rule))
                if first { return }
            }
        }
    }

    @inline(__always)
    func run(_ start: Int, _ ctx: AnyObject, _ scratch: EvalScratch) -> Bool {
        var pc = start
        var acc = false
        while true {
            let ins = code[pc]
            switch ins.op {
            case .check:
                let i = Int(ins.arg)
                if scratch.checkGeneration[i] == scratch.generation {
                    acc = scratch.checkResult[i]
                } else {
                    acc = evalCheck(i, ctx, scratch)
                    scratch.checkGeneration[i] = scratch.generation
                    scratch.checkResult[i] = acc
                }
            case .jumpIfFalse: if !acc { pc = Int(ins.arg); continue }
            case .jumpIfTrue: if acc { pc = Int(ins.arg); continue }
            case .not: acc = !acc
            case .constant: acc = ins.arg != 0
            case .end: return acc
            }
            pc += 1
        }
    }

    /// The cached values of a slot for the current event: extracts on first use.
    @inline(__always)
    func values(_ slot: Int32, _ ctx: AnyObject, _ scratch: EvalScratch) -> (start: Int, count: Int) {
        let s = Int(slot)
        if scratch.slotGeneration[s] == scratch.generation {
            return (Int(scratch.slotStart[s]), Int(scratch.slotCount[s]))
        }
        // Transformer extractors first fill their inner slot, then mark where their own values begin.
        let before = scratch.count
        scratch.pendingStart = -1
        extractors[s](ctx, scratch)
        let start = scratch.pendingStart >= 0 ? scratch.pendingStart : before
        scratch.slotGeneration[s] = scratch.generation
        scratch.slotStart[s] = Int32(start)
        scratch.slotCount[s] = Int32(scratch.count - start)
        return (start, scratch.count - start)
    }

    func evalCheck(_ i: Int, _ ctx: AnyObject, _ scratch: EvalScratch) -> Bool {
        let c = checks[i]
        let (start, count) = values(c.slot, ctx, scratch)
        if c.op == .exists { return count > 0 }
        if count == 0 { return false }   // a missing field makes every comparison false, != included
        var rhsStart = 0, rhsCount = 0
        if c.rhs == .field {
            (rhsStart, rhsCount) = values(c.a, ctx, scratch)
            if rhsCount == 0 { return false }
        }
        let vals = scratch.values
        if c.rhs == .domains { return domainTest(vals[start], c) }
        if c.isList && (c.op == .in || c.op == .intersects) {
            var all = true, any = false
            for k in start..<(start + count) {
                let hit = member(vals[k], c, scratch, rhsStart, rhsCount)
                all = all && hit
                any = any || hit
            }
            return c.op == .in ? all : any
        }
        if c.eitherEnd && c.op == .ne {
            for k in start..<(start + count) where !test(vals[k], c, scratch, rhsStart, rhsCount) { return false }
            return true
        }
        if c.anyValue {
            for k in start..<(start + count) where test(vals[k], c, scratch, rhsStart, rhsCount) { return true }
            return false
        }
        return test(vals[start], c, scratch, rhsStart, rhsCount)
    }

    /// `fd.sip.name = n`, `in (n1, n2)`, `!= n`: whether the address is among the names' resolved addresses
    /// (with modifiers: `= oneof`/`anyof` any name, `allof` every name; `!=` inverts each name's test). One hash
    /// probe finds the names the address belongs to (usually none or one); the check's names are compared with those.
    @inline(__always)
    func domainTest(_ v: FieldValue, _ c: RuntimeCheck) -> Bool {
        guard case .ip(let a) = v else { return false }
        let found = domainIndex.names(of: a)
        let negate = c.op == .ne
        if found.isEmpty { return negate }   // no name of this ruleset has the address
        let lo = Int(c.a), hi = Int(c.a + c.b)
        @inline(__always) func named(_ k: Int) -> Bool {
            let id = domainIDs[k]
            for x in found where x == id { return true }
            return false
        }
        if c.modifier == 2 {
            for k in lo..<hi where named(k) == negate { return false }
            return true
        }
        for k in lo..<hi where named(k) != negate { return true }
        return false
    }

    @inline(__always)
    func member(_ v: FieldValue, _ c: RuntimeCheck, _ scratch: EvalScratch, _ rs: Int, _ rc: Int) -> Bool {
        switch c.rhs {
        case .strings:
            guard case .bytes(let b) = v else { return false }
            return stringSets[Int(c.a)].contains(b)
        case .values:
            for k in Int(c.a)..<Int(c.a + c.b) where RuleEngine.compare(.eq, v, constants[k]) { return true }
            return false
        case .field:
            for k in rs..<(rs + rc) where RuleEngine.compare(.eq, v, scratch.values[k]) { return true }
            return false
        default:
            return false
        }
    }

    @inline(__always)
    func test(_ v: FieldValue, _ c: RuntimeCheck, _ scratch: EvalScratch, _ rs: Int, _ rc: Int) -> Bool {
        switch c.rhs {
        case .none: return true
        case .domains: return domainTest(v, c)
        case .strings:
            guard case .bytes(let b) = v else { return false }
            return stringSets[Int(c.a)].contains(b)
        case .paths:
            guard case .bytes(let b) = v else { return false }
            return pathSets[Int(c.a)].matches(b)
        case .regex:
            guard case .bytes(let b) = v else { return false }
            return regexes[Int(c.a)].matches(b, scratch: scratch)
        case .field:
            if c.op == .in || c.op == .intersects { return member(v, c, scratch, rs, rc) }
            return RuleEngine.compare(c.op, v, scratch.values[rs])
        case .values:
            let lo = Int(c.a), hi = Int(c.a + c.b)
            switch c.modifier {
            case 2:
                for k in lo..<hi where !RuleEngine.compare(c.op, v, constants[k]) { return false }
                return true
            case 1:
                for k in lo..<hi where RuleEngine.compare(c.op, v, constants[k]) { return true }
                return false
            default:
                if c.op == .in || c.op == .intersects {
                    for k in lo..<hi where RuleEngine.compare(.eq, v, constants[k]) { return true }
                    return false
                }
                return RuleEngine.compare(c.op, v, constants[lo])
            }
        }
    }

    /// One comparison of an extracted value with a constant or another field's value.
    @inline(__always)
    static func compare(_ op: CheckOp, _ v: FieldValue, _ c: FieldValue) -> Bool {
        switch (v, c) {
        case (.bytes(let a), .bytes(let b)):
            switch op {
            case .eq, .in, .intersects: return Bytes.equal(a, b)
            case .ne: return !Bytes.equal(a, b)
            case .contains, .bcontains: return Bytes.contains(a, b)
            case .icontains: return Bytes.containsIgnoringCase(a, lowerNeedle: b)
            case .startswith, .bstartswith: return Bytes.hasPrefix(a, b)
            case .endswith: return Bytes.hasSuffix(a, b)
            case .glob: return Glob.match(b, a, ignoreCase: false)
            case .iglob: return Glob.match(b, a, ignoreCase: true)
            case .lt: return Bytes.compare(a, b) < 0
            case .le: return Bytes.compare(a, b) <= 0
            case .gt: return Bytes.compare(a, b) > 0
            case .ge: return Bytes.compare(a, b) >= 0
            case .pmatch: return PathPrefixSet.single(b, matches: a)
            case .regex, .exists: return false
            }
        case (.bool(let a), .bool(let b)):
            switch op {
            case .eq, .in, .intersects: return a == b
            case .ne: return a != b
            default: return false
            }
        case (.ip(let a), .ip(let b)):
            let eq = a == b
            return op == .ne ? !eq : (op == .eq || op == .in || op == .intersects) && eq
        case (.ip(let a), .net(let net)):
            let inside = net.contains(a)
            return op == .ne ? !inside : (op == .eq || op == .in || op == .intersects) && inside
        default:
            guard let order = numericOrder(v, c) else { return op == .ne }
            switch op {
            case .eq, .in, .intersects: return order == 0
            case .ne: return order != 0
            case .lt: return order < 0
            case .le: return order <= 0
            case .gt: return order > 0
            case .ge: return order >= 0
            default: return false
            }
        }
    }

    /// -1, 0, 1 comparing two numbers of either signedness; nil when either is not a number.
    @inline(__always)
    static func numericOrder(_ a: FieldValue, _ b: FieldValue) -> Int? {
        switch (a, b) {
        case (.int(let x), .int(let y)): return x < y ? -1 : (x == y ? 0 : 1)
        case (.uint(let x), .uint(let y)): return x < y ? -1 : (x == y ? 0 : 1)
        case (.int(let x), .uint(let y)): return x < 0 ? -1 : (UInt64(x) < y ? -1 : (UInt64(x) == y ? 0 : 1))
        case (.uint(let x), .int(let y)): return y < 0 ? 1 : (x < UInt64(y) ? -1 : (x == UInt64(y) ? 0 : 1))
        case (.bool(let x), .int(let y)): return (x ? 1 : 0) == y ? 0 : 1
        case (.bool(let x), .uint(let y)): return (x ? 1 : 0) == y ? 0 : 1
        default: return nil
        }
    }
}

/// Fields that stand for both ends of a connection.
let eitherEndFields: Set<String> = ["fd.ip", "fd.net", "fd.port", "fd.proto"]
