"""Op test rows per op family, merged into op_cases.CASES."""
