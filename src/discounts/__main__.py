from discounts.cli import main

main()
