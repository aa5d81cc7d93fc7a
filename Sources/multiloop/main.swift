import MultiLoop
