if __name__ == "__main__":  # importing this module (as multiprocessing's workers do) loads and runs nothing
    from trellis.cli import main

    main()
