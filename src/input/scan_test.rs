pub fn run_scan_test() {}
