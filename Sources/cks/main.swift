print("cks: under construction")
