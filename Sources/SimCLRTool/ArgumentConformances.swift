import ArgumentParser
import Kernels
import NeuralNet

extension Stem: ExpressibleByArgument {}
extension Architecture: ExpressibleByArgument {}
extension ComputePrecision: ExpressibleByArgument {}
