import Cluster
import Foundation
import Kernels

/// The configuration every rank of the `config-mismatch` mode hashes; rank 1 changes one value if asked.
func demoConfiguration(rank: Int, mismatch: Bool) -> String {
    ConfigurationCheck.canonical([
        "model": "resnet18", "stem": "cifar", "batch_size": "128",
        "lr": mismatch && rank == 1 ? "0.6" : "0.3", "temperature": "0.07",
    ])
}

func consistencyChecks(_ run: CheckRunner) {
    let c = run.comm

    run.check("config-check-match") {
        let hash = try ConfigurationCheck.verify(demoConfiguration(rank: c.rank, mismatch: false), communicator: c)
        return expect(hash == ConfigurationCheck.hash(demoConfiguration(rank: 0, mismatch: false)), "hash \(hash)")
    }

    run.check("config-check-mismatch-detected") {
        guard c.size > 1 else { return skip("needs 2 ranks") }
        do {
            try ConfigurationCheck.verify(demoConfiguration(rank: c.rank, mismatch: true), communicator: c)
            return "mismatch not detected"
        } catch let ClusterError.configurationMismatch(message, _, differing) {
            return firstFailure(expect(differing == [1], "differing ranks \(differing)"),
                                expect(message.contains("lr=0.6"), "message does not name the difference: \(message)"))
        }
    }

    run.check("replica-check") {
        let params = Tensor(shape: [100_000])
        params.withUnsafeMutableBufferPointer { for i in 0..<$0.count { $0[i] = Float(i).squareRoot() } }
        let same = try ReplicaCheck.compare(params, communicator: c)
        guard same.isConsistent else { return "identical tensors reported different: \(same.summary)" }
        guard c.size > 1 else { return nil }   // perturbing one replica needs a second rank
        let odd = c.size - 1
        if c.rank == odd { params[12345] = params[12345].nextUp }
        let report = try ReplicaCheck.compare(params, communicator: c)
        run.info("replica check after perturbing rank \(odd): \(report.summary)")
        do { try ReplicaCheck.verify(params, communicator: c); return "verify did not throw" } catch ClusterError.replicasDiffer {}
        return firstFailure(expect(report.differingRanks == [odd], "differing \(report.differingRanks)"),
                            expect(report.differingElements?[odd] == 1, "element count \(String(describing: report.differingElements))"))
    }
}

/// MPI errors arrive as Swift errors naming the call and the rank, and do not kill the job.
func errorChecks(_ run: CheckRunner) {
    let c = run.comm

    run.check("error-invalid-root") {
        do { _ = try c.broadcast(1, root: c.size + 3); return "no error" } catch let error as ClusterError {
            guard case let .mpi(call, _, message, rank) = error else { return "wrong error \(error)" }
            return firstFailure(expect(call == "MPI_Bcast" && rank == c.rank, "call \(call) rank \(rank)"),
                                expect(message.contains("MPI_ERR_ROOT"), "message \(message)"),
                                expect("\(error)".contains("MPI_Bcast failed on rank \(c.rank)"), "description \(error)"))
        }
    }

    run.check("error-freed-communicator") {
        let dup = try c.duplicate()
        try dup.free()
        do { try dup.barrier(); return "no error" } catch let ClusterError.mpi(call, _, message, _) {
            return expect(call == "MPI_Barrier" && message.contains("MPI_ERR_COMM"), "\(call): \(message)")
        }
    }

    run.check("error-wrong-result-size") {
        do { try c.allGather(Tensor(shape: [4]), into: Tensor(shape: [3])); return "no error" } catch ClusterError.invalidArgument {}
        return nil
    }

    run.check("error-mismatched-broadcast") {
        // Pairs of ranks where the receiver posts a smaller buffer than the root sends: MPI reports
        // MPI_ERR_TRUNCATE on the receiver. Pairs keep every receiver a leaf of the broadcast tree.
        guard c.size > 1 else { return skip("needs 2 ranks") }
        guard let pair = try c.split(color: c.rank / 2 * 2 + 1 < c.size ? c.rank / 2 : -1, key: c.rank) else { return nil }
        defer { try? pair.free() }
        do {
            try pair.broadcast(Tensor(shape: [pair.rank == 0 ? 64 : 8]), root: 0)
            return pair.rank == 0 ? nil : "receiver saw no error"
        } catch let ClusterError.mpi(call, _, message, _) {
            return expect(pair.rank == 1 && call == "MPI_Bcast" && message.contains("TRUNCATE"), "\(call): \(message)")
        }
    }
}
