import Commands
import Kernels

// OpenBLAS reads its kernel choice when it loads: the tool may restart itself with OPENBLAS_CORETYPE set.
let arguments = BLASSetup.ensureGoodKernels(arguments: CommandLine.arguments)
SimCLRTool.runAsTool(NegativeNumberArguments.joined(Array(arguments.dropFirst())))
