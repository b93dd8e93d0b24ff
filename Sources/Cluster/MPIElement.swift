import CMPI

/// Element types the collectives move, with their MPI datatype.
public enum MPIElementKind: Sendable {
    case float, double, int64, uint64, int32, uint16, uint8

    var datatype: MPI_Datatype? {
        switch self {
        case .float: return cmpi_float()
        case .double: return cmpi_double()
        case .int64: return cmpi_int64()
        case .uint64: return cmpi_uint64()
        case .int32: return cmpi_int32()
        case .uint16: return cmpi_uint16()
        case .uint8: return cmpi_uint8()
        }
    }

    /// Bytes of one element.
    public var byteCount: Int {
        switch self {
        case .float, .int32: return 4
        case .double, .int64, .uint64: return 8
        case .uint16: return 2
        case .uint8: return 1
        }
    }
}

/// A fixed-size numeric type MPI can send and reduce.
public protocol MPIElement: Numeric {
    static var mpiElementKind: MPIElementKind { get }
}

extension Float: MPIElement { public static var mpiElementKind: MPIElementKind { .float } }
extension Double: MPIElement { public static var mpiElementKind: MPIElementKind { .double } }
extension Int64: MPIElement { public static var mpiElementKind: MPIElementKind { .int64 } }
extension UInt64: MPIElement { public static var mpiElementKind: MPIElementKind { .uint64 } }
extension Int32: MPIElement { public static var mpiElementKind: MPIElementKind { .int32 } }
extension UInt16: MPIElement { public static var mpiElementKind: MPIElementKind { .uint16 } }
extension UInt8: MPIElement { public static var mpiElementKind: MPIElementKind { .uint8 } }

/// Reduction operations.
public enum ReductionOp: Sendable {
    case sum, max, min

    var op: MPI_Op? {
        switch self {
        case .sum: return cmpi_op_sum()
        case .max: return cmpi_op_max()
        case .min: return cmpi_op_min()
        }
    }
}
