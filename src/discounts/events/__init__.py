"""Events: what the domain says happened, written in the transaction of the action, heard by listeners."""
