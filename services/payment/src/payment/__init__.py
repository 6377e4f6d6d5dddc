"""payment — 政策兑现: pays cleared entitlements through the city's finance system."""
