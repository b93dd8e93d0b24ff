import ArgumentParser
import Kernels
import NeuralNet

extension Stem: ExpressibleByArgument {}
extension ComputePrecision: ExpressibleByArgument {}
