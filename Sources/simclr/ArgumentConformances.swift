import ArgumentParser
import NeuralNet

extension Stem: ExpressibleByArgument {}
