import nest
import numpy as np


nest.ResetKernel()


# Set simulation kernel
nest.SetKernelStatus({
  "local_num_threads": 1,
  "resolution": 0.1,
  "rng_seed": 1
})


# Create nodes
pg1 = nest.Create("poisson_generator", params={
  "rate": 3500,
})
n1 = nest.Create("iaf_psc_alpha", 400)
n2 = nest.Create("iaf_psc_alpha", 100)
sr1 = nest.Create("spike_recorder")
sr2 = nest.Create("spike_recorder")


# Connect nodes
nest.Connect(pg1, n1, syn_spec={ 
  "weight": 20,
})
nest.Connect(pg1, n2, syn_spec={ 
  "weight": 20,
})
nest.Connect(n1, n1, conn_spec={
  "rule": "fixed_indegree",
  "indegree": 40,
}, syn_spec={ 
  "weight": 20,
  "delay": 1.5,
})
nest.Connect(n1, n2, conn_spec={
  "rule": "fixed_indegree",
  "indegree": 40,
}, syn_spec={ 
  "weight": 20,
  "delay": 1.5,
})
nest.Connect(n2, n1, conn_spec={
  "rule": "fixed_indegree",
  "indegree": 10,
}, syn_spec={ 
  "weight": -120,
  "delay": 1.5,
})
nest.Connect(n2, n2, conn_spec={
  "rule": "fixed_indegree",
  "indegree": 10,
}, syn_spec={ 
  "weight": -120,
  "delay": 1.5,
})
nest.Connect(n1, sr1)
nest.Connect(n2, sr2)


# Run simulation
nest.Simulate(1000)


response = {
  "events": [sr1.events, sr2.events, ]
}

