package nn

// CPUTime is cpuTime for the benchmarks of package nn_test.
var CPUTime = cpuTime
