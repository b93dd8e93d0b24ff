import CMPI

/// The MPI implementation this binary is linked against.
public enum MPILibrary {
    /// MPI_Get_library_version's text on one line (callable before MPI_Init, so no job is started).
    public static var version: String {
        var buffer = [CChar](repeating: 0, count: Int(MPI_MAX_LIBRARY_VERSION_STRING) + 1)
        var length: Int32 = 0
        guard MPI_Get_library_version(&buffer, &length) == cmpi_success() else { return "unknown" }
        let text = String(cString: buffer)
        return text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }.joined(separator: " ")
    }

    /// MPI_Get_version: the standard the library implements, e.g. "3.1".
    public static var standard: String {
        var major: Int32 = 0, minor: Int32 = 0
        guard MPI_Get_version(&major, &minor) == cmpi_success() else { return "unknown" }
        return "\(major).\(minor)"
    }
}
