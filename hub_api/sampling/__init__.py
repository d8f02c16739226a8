"""Double random, one public (雙隨機、一公開): plans, the verifiable draw, its API and results."""
