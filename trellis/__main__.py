from trellis.cli import main

if __name__ == "__main__":  # importing this module (as multiprocessing does) runs nothing
    main()
