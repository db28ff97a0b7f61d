package order

import "selfcare/domain"

// CheckContact validates an order's contact alone, as Place does: nil for
// no contact or a valid one, else a *domain.ValidationError on
// "contact.name", "contact.email" or "contact.phone". It lets a form report
// a bad contact together with bad parameters, before Place is reached.
func CheckContact(c *Contact) error {
	var v domain.ValidationError
	validateContact(&v, c)
	return v.Err()
}
