"""Money: one ledger, several funding sources behind one provider interface."""
