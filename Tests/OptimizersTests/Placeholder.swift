import Optimizers
