import ArgumentParser

/// `--no-tensorboard`, shared by the commands that write metrics.csv.
struct TensorBoardOptions: ParsableArguments {
    @Flag(help: "Do not write RUN_DIR/tb/events.out.tfevents.* (metrics.csv's values as TensorBoard scalars; view with `tensorboard --logdir runs`).")
    var noTensorboard = false

    var enabled: Bool { !noTensorboard }
}
