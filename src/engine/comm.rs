//! Processes working together: MPI when the program is built with the `mpi` feature and started
//! by an MPI launcher (`mpirun`, `srun`), otherwise one process. The batch and joint refinement
//! use only the few collective operations below, so the same code runs in both cases.
//!
//! MPI is called from the main thread only (the render's worker threads never communicate), so
//! the library is initialised with the "funneled" threading level.

use crate::error::{Error, Result};

/// This process's place among the processes of the run.
pub struct Comm {
    rank: usize,
    size: usize,
    #[cfg(feature = "mpi")]
    mpi: Option<mpi_backend::World>,
}

/// Environment variables that MPI launchers (Open MPI, MPICH / Hydra, PMI and PMIx, Slurm's
/// `srun --mpi=...`, MVAPICH) set in every process they start; without any of them the program
/// was started directly and runs as one process, without initialising MPI.
const LAUNCHER_VARS: [&str; 6] = ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "PMI_RANK", "MPI_LOCALNRANKS", "MV2_COMM_WORLD_SIZE"];

impl Comm {
    /// One process, no MPI.
    pub fn single() -> Comm {
        Comm {
            rank: 0,
            size: 1,
            #[cfg(feature = "mpi")]
            mpi: None,
        }
    }

    /// Join the MPI run when the program was started by an MPI launcher and built with the
    /// `mpi` feature; otherwise one process.
    pub fn init() -> Comm {
        let launched = LAUNCHER_VARS.iter().any(|v| std::env::var_os(v).is_some());
        if !launched {
            return Comm::single();
        }
        #[cfg(feature = "mpi")]
        {
            if let Some(world) = mpi_backend::World::init() {
                return Comm { rank: world.rank(), size: world.size(), mpi: Some(world) };
            }
        }
        #[cfg(not(feature = "mpi"))]
        {
            // every process would render every shot and they would race on the files: warn
            // once per process so that the cause of a slow run is visible
            crate::say!("WARNING: started by an MPI launcher, but this nanobragg was built without the `mpi` feature: each process runs the whole job alone (rebuild with `cargo build --release --features mpi`)");
        }
        Comm::single()
    }

    pub fn rank(&self) -> usize {
        self.rank
    }

    pub fn size(&self) -> usize {
        self.size
    }

    pub fn is_root(&self) -> bool {
        self.rank == 0
    }

    /// Bytes (or an error) from rank 0 to every rank: rank 0 passes what it read, the others
    /// anything (ignored). Every rank returns rank 0's result, so an input error ends every rank
    /// with the same message.
    pub fn broadcast(&self, mine: Result<Vec<u8>>) -> Result<Vec<u8>> {
        if self.size == 1 {
            return mine;
        }
        #[cfg(feature = "mpi")]
        if let Some(w) = &self.mpi {
            // a leading status byte: 0 = data follows, 1 = an error message follows
            let mut packet = match (&mine, self.rank) {
                (Ok(data), 0) => std::iter::once(0u8).chain(data.iter().copied()).collect(),
                (Err(e), 0) => std::iter::once(1u8).chain(e.0.bytes()).collect(),
                _ => vec![],
            };
            w.broadcast_bytes(0, &mut packet);
            return match packet.split_first() {
                Some((0, data)) => Ok(data.to_vec()),
                Some((_, msg)) => Err(Error::new(String::from_utf8_lossy(msg).into_owned())),
                None => Err(Error::new("internal error: empty broadcast")),
            };
        }
        mine
    }

    /// Agree on a result that each rank computed on its own (a collective): Ok where every rank
    /// succeeded, otherwise on every rank the error of the lowest rank that failed, so that all
    /// ranks stop together and rank 0 can report it.
    pub fn agree<T>(&self, mine: Result<T>) -> Result<T> {
        if self.size == 1 {
            return mine;
        }
        let failed = self.all_gather(&[if mine.is_err() { 1.0 } else { 0.0 }]);
        let Some(first) = failed.iter().position(|&f| f != 0.0) else { return mine };
        #[cfg(feature = "mpi")]
        if let Some(w) = &self.mpi {
            let mut msg = match &mine {
                Err(e) if self.rank == first => e.0.clone().into_bytes(),
                _ => vec![],
            };
            w.broadcast_bytes(first, &mut msg);
            return Err(Error::new(String::from_utf8_lossy(&msg).into_owned()));
        }
        let _ = first;
        mine
    }

    /// Every rank's `local` values (the same count on every rank), concatenated in rank order.
    pub fn all_gather(&self, local: &[f64]) -> Vec<f64> {
        #[cfg(feature = "mpi")]
        if let Some(w) = &self.mpi {
            return w.all_gather(local);
        }
        local.to_vec()
    }

    /// Sum of a count over the ranks.
    pub fn sum_count(&self, local: u64) -> u64 {
        #[cfg(feature = "mpi")]
        if let Some(w) = &self.mpi {
            return w.sum_u64(local);
        }
        local
    }

    /// Whether every rank's `ok` is true (a collective: every rank must call it).
    pub fn all_ok(&self, ok: bool) -> bool {
        self.sum_count(u64::from(!ok)) == 0
    }

    /// Wait until every rank gets here.
    pub fn barrier(&self) {
        #[cfg(feature = "mpi")]
        if let Some(w) = &self.mpi {
            w.barrier();
        }
    }

    /// End the whole run after an error on this rank alone: print the message and, under MPI,
    /// abort every rank (the others would otherwise wait for this one forever).
    pub fn fail(&self, e: &Error) -> ! {
        crate::say!("nanobragg: error: {e}");
        #[cfg(feature = "mpi")]
        if let Some(w) = &self.mpi {
            w.abort(1);
        }
        std::process::exit(1)
    }

    /// End a command whose error every rank shares: rank 0 returns it (the program prints it
    /// once), the others leave MPI and exit with a failure status without printing.
    pub fn finish(self, result: Result<()>) -> Result<()> {
        match result {
            Err(_) if !self.is_root() => {
                drop(self);
                std::process::exit(1)
            }
            r => r,
        }
    }

    /// A short label for messages: empty for one process, "rank r/n: " otherwise.
    pub fn label(&self) -> String {
        if self.size == 1 {
            String::new()
        } else {
            format!("rank {}/{}: ", self.rank, self.size)
        }
    }
}

#[cfg(feature = "mpi")]
mod mpi_backend {
    use mpi::collective::SystemOperation;
    use mpi::traits::*;

    /// The MPI environment (finalised when dropped) and its world communicator.
    pub struct World {
        _universe: mpi::environment::Universe,
        world: mpi::topology::SimpleCommunicator,
    }

    impl World {
        pub fn init() -> Option<World> {
            let (universe, _level) = mpi::initialize_with_threading(mpi::Threading::Funneled)?;
            let world = universe.world();
            Some(World { _universe: universe, world })
        }

        pub fn rank(&self) -> usize {
            self.world.rank() as usize
        }

        pub fn size(&self) -> usize {
            self.world.size() as usize
        }

        /// Rank `root`'s bytes into every rank's `data` (length first, then the bytes).
        pub fn broadcast_bytes(&self, root: usize, data: &mut Vec<u8>) {
            let root = self.world.process_at_rank(root as i32);
            let mut len = data.len() as u64;
            root.broadcast_into(&mut len);
            data.resize(len as usize, 0);
            if len > 0 {
                root.broadcast_into(&mut data[..]);
            }
        }

        pub fn all_gather(&self, local: &[f64]) -> Vec<f64> {
            let mut out = vec![0.0; local.len() * self.size()];
            self.world.all_gather_into(local, &mut out[..]);
            out
        }

        pub fn sum_u64(&self, local: u64) -> u64 {
            let mut total = 0u64;
            self.world.all_reduce_into(&local, &mut total, SystemOperation::sum());
            total
        }

        pub fn barrier(&self) {
            self.world.barrier();
        }

        pub fn abort(&self, code: i32) -> ! {
            self.world.abort(code)
        }
    }
}
