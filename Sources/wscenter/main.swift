print("wscenter: not implemented yet")
