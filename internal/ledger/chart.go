package ledger

// DefaultTaxRates are a new organisation's tax rates. Accounts in
// DefaultChart refer to them by 1-based position.
func DefaultTaxRates() []TaxRate {
	return []TaxRate{
		{Name: "No tax", RateBP: 0},
		{Name: "Standard rate 20%", RateBP: 2000},
		{Name: "Reduced rate 5%", RateBP: 500},
		{Name: "Zero rated", RateBP: 0},
	}
}

// DefaultChart is a new organisation's chart of accounts: a small-business
// template with the system accounts the ledger posts to by itself.
func DefaultChart() []Account {
	return []Account{
		{Code: "1000", Name: "Business Bank Account", Type: Asset, System: SystemBank},
		{Code: "1100", Name: "Accounts Receivable", Type: Asset, System: SystemReceivable},
		{Code: "1200", Name: "Inventory", Type: Asset},
		{Code: "1300", Name: "Prepayments", Type: Asset},
		{Code: "1500", Name: "Office Equipment", Type: Asset},
		{Code: "1510", Name: "Accumulated Depreciation", Type: Asset},
		{Code: "2100", Name: "Accounts Payable", Type: Liability, System: SystemPayable},
		{Code: "2200", Name: "Sales Tax", Type: Liability, System: SystemTax},
		{Code: "2300", Name: "Wages Payable", Type: Liability},
		{Code: "2500", Name: "Loan", Type: Liability},
		{Code: "3000", Name: "Owner's Capital", Type: Equity},
		{Code: "3100", Name: "Owner's Drawings", Type: Equity},
		{Code: "3200", Name: "Retained Earnings", Type: Equity, System: SystemRetainedEarnings},
		{Code: "4000", Name: "Sales", Type: Revenue, TaxRateID: 2},
		{Code: "4100", Name: "Other Revenue", Type: Revenue, TaxRateID: 2},
		{Code: "4200", Name: "Interest Income", Type: Revenue, TaxRateID: 1},
		{Code: "5000", Name: "Cost of Goods Sold", Type: Expense, TaxRateID: 2},
		{Code: "6000", Name: "Advertising", Type: Expense, TaxRateID: 2},
		{Code: "6100", Name: "Bank Fees", Type: Expense, TaxRateID: 1},
		{Code: "6200", Name: "Rent", Type: Expense, TaxRateID: 2},
		{Code: "6300", Name: "Office Expenses", Type: Expense, TaxRateID: 2},
		{Code: "6400", Name: "Wages and Salaries", Type: Expense, TaxRateID: 1},
		{Code: "6500", Name: "Travel", Type: Expense, TaxRateID: 2},
		{Code: "6600", Name: "Utilities", Type: Expense, TaxRateID: 2},
		{Code: "6700", Name: "Professional Fees", Type: Expense, TaxRateID: 2},
		{Code: "6800", Name: "Subscriptions", Type: Expense, TaxRateID: 2},
		{Code: "6900", Name: "Depreciation", Type: Expense, TaxRateID: 1},
	}
}
